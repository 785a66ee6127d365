//! `/admin/keys`: keys made, used, disabled, rotated and deleted; config keys read-only.

use super::*;
use crate::common::expect_error;

#[tokio::test]
async fn keys_made_through_the_admin_api_work_until_changed_or_deleted() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream, "")).await;
    let made = admin(
        &gateway,
        reqwest::Method::POST,
        "/admin/keys",
        Some(json!({"name": "ci", "team": "blue", "models": ["chat"], "limits": {"requests_per_minute": 100}, "metadata": {"owner": "ops"}})),
    )
    .await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let secret = made["secret"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk-og-"));
    assert_eq!(
        made["secret_hint"],
        format!("…{}", &secret[secret.len() - 4..])
    );
    assert_eq!(made["metadata"]["owner"], "ops");

    let response = chat_as(&gateway, &secret).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-ratelimit-limit-requests"), "100");

    // The secret appears nowhere after the answer that made it.
    let listing = admin(&gateway, reqwest::Method::GET, "/admin/keys", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(listing.contains(&id), "{listing}");
    assert!(
        !listing.contains(&secret[6..]),
        "the listing shows no secret"
    );
    let one = admin(
        &gateway,
        reqwest::Method::GET,
        &format!("/admin/keys/{id}"),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(!one.contains(&secret[6..]));

    let disabled = admin(
        &gateway,
        reqwest::Method::PATCH,
        &format!("/admin/keys/{id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(disabled.status(), 200);
    let refused = chat_as(&gateway, &secret).await;
    assert_eq!(expect_error(refused, 401).await["code"], "key_disabled");

    let rotated: Value = admin(
        &gateway,
        reqwest::Method::PATCH,
        &format!("/admin/keys/{id}"),
        Some(json!({"disabled": false, "rotate_secret": true, "team": null})),
    )
    .await
    .json()
    .await
    .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["team"], Value::Null);
    let old = chat_as(&gateway, &secret).await;
    expect_error(old, 401).await;
    let new = chat_as(&gateway, new_secret).await;
    assert_eq!(new.status(), 200);

    let deleted = admin(
        &gateway,
        reqwest::Method::DELETE,
        &format!("/admin/keys/{id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status(), 200);
    let gone = chat_as(&gateway, new_secret).await;
    expect_error(gone, 401).await;
    let again = admin(
        &gateway,
        reqwest::Method::DELETE,
        &format!("/admin/keys/{id}"),
        None,
    )
    .await;
    expect_error(again, 404).await;

    let bad = admin(
        &gateway,
        reqwest::Method::POST,
        "/admin/keys",
        Some(json!({"name": "x", "limits": {"requests_per_minute": 0}})),
    )
    .await;
    assert_eq!(expect_error(bad, 400).await["param"], "limits");
}

#[tokio::test]
async fn config_keys_are_listed_but_changed_only_in_the_file() {
    let upstream = FakeUpstream::start().await;
    let keys = "[[keys]]\nid = \"declared\"\nsecret = \"sk-og-declared\"\n";
    let gateway = Gateway::from_toml(&config(&upstream, keys)).await;
    let listing: Value = admin(&gateway, reqwest::Method::GET, "/admin/keys", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["data"][0]["id"], "declared");
    assert_eq!(listing["data"][0]["source"], "config");
    let change = admin(
        &gateway,
        reqwest::Method::PATCH,
        "/admin/keys/declared",
        Some(json!({"disabled": true})),
    )
    .await;
    expect_error(change, 409).await;
}
