//! Limits, allow-lists, expiry and disabling, hostile tokens, budgets and usage, over HTTP.

use super::*;
use crate::audio::{form, wav};
use crate::common::expect_error;

#[tokio::test]
async fn a_key_limited_to_n_requests_a_minute_gets_exactly_n() {
    let upstream = FakeUpstream::start().await;
    let keys = r#"
[[keys]]
id = "five"
secret = "sk-og-five-a-minute"
limits = { requests_per_minute = 5 }
"#;
    let gateway = Gateway::from_toml(&config(&upstream, keys)).await;
    for i in 0..5u64 {
        let response = chat_as(&gateway, "sk-og-five-a-minute").await;
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(header(&response, "x-ratelimit-limit-requests"), "5");
        assert_eq!(
            header(&response, "x-ratelimit-remaining-requests"),
            (4 - i).to_string()
        );
        assert!(header(&response, "x-ratelimit-reset-requests").ends_with('s'));
    }
    for _ in 0..3 {
        let response = chat_as(&gateway, "sk-og-five-a-minute").await;
        assert_eq!(header(&response, "x-ratelimit-limit-requests"), "5");
        assert_eq!(header(&response, "x-ratelimit-remaining-requests"), "0");
        let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let error = expect_error(response, 429).await;
        assert_eq!(error["code"], "rate_limit_exceeded");
        assert_eq!(error["type"], "rate_limit_error");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("requests per minute")
        );
    }
    assert_eq!(
        upstream.requests().len(),
        5,
        "refused requests never reach the upstream"
    );
    // Operators' keys have no limits.
    let response = chat_as(&gateway, OPERATOR).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-ratelimit-limit-requests"), "");
}

#[tokio::test]
async fn keys_may_call_only_their_models_and_only_while_valid() {
    let upstream = FakeUpstream::start().await;
    let keys = r#"
[[keys]]
id = "chatty"
secret = "sk-og-chat-only"
models = ["ch*"]

[[keys]]
id = "old"
secret = "sk-og-expired"
expires_at = 1000000000

[[keys]]
id = "off"
secret = "sk-og-disabled"
disabled = true
"#;
    let gateway = Gateway::from_toml(&config(&upstream, keys)).await;
    let ok = chat_as(&gateway, "sk-og-chat-only").await;
    assert_eq!(ok.status(), 200);
    let refused = post(
        &gateway,
        "sk-og-chat-only",
        "/v1/embeddings",
        json!({"model": "embed", "input": "x"}),
    )
    .await;
    let error = expect_error(refused, 403).await;
    assert_eq!(error["code"], "model_not_allowed");
    assert_eq!(error["param"], "model");
    let models: Value = gateway
        .client
        .get(gateway.url("/v1/models"))
        .bearer_auth("sk-og-chat-only")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chat"], "a key sees the models it may call");
    let transcription = gateway
        .client
        .post(gateway.url("/v1/audio/transcriptions"))
        .bearer_auth("sk-og-chat-only")
        .multipart(form("asr", None, wav(16_000, 1)))
        .send()
        .await
        .unwrap();
    expect_error(transcription, 403).await;

    let expired = chat_as(&gateway, "sk-og-expired").await;
    assert_eq!(expect_error(expired, 401).await["code"], "key_expired");
    let disabled = chat_as(&gateway, "sk-og-disabled").await;
    assert_eq!(expect_error(disabled, 401).await["code"], "key_disabled");
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused_alike() {
    let upstream = FakeUpstream::start().await;
    let keys = "[[keys]]\nid = \"real\"\nsecret = \"sk-og-the-real-secret\"\n";
    let gateway = Gateway::from_toml(&config(&upstream, keys)).await;
    let long = "sk-og-".to_owned() + &"a".repeat(64 * 1024);
    for token in [
        "sk-og-the-real-secre",   // truncated
        "sk-og-the-real-secret0", // one more
        "sk-og-THE-REAL-SECRET",
        long.as_str(),
        "sk-admin-test-but-not",
    ] {
        let response = chat_as(&gateway, token).await;
        let error = expect_error(response, 401).await;
        assert_eq!(error["code"], "invalid_api_key");
        assert!(!error["message"].as_str().unwrap().contains("sk-"));
    }
    // Bytes that are not ASCII, sent raw in the header.
    let response = gateway
        .client
        .post(gateway.url("/v1/chat/completions"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer sk-og-\xe9\xff").unwrap(),
        )
        .json(&chat("chat"))
        .send()
        .await
        .unwrap();
    expect_error(response, 401).await;
    // An API key is not an admin key.
    for key in ["sk-og-the-real-secret", OPERATOR] {
        let response = gateway
            .client
            .get(gateway.url("/admin/keys"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(expect_error(response, 403).await["code"], "forbidden");
    }
}

#[tokio::test]
async fn usage_is_recorded_and_a_spent_budget_refuses() {
    let upstream = FakeUpstream::start().await;
    // The fake reports 9 prompt and 8 completion tokens: 17 tokens at $0.001 each is $0.017.
    let keys = r#"
[[keys]]
id = "spender"
secret = "sk-og-spender"
budget = { hard_usd = 0.03, soft_usd = 0.01 }
"#;
    let gateway = Gateway::from_toml(&config(&upstream, keys)).await;
    let first = chat_as(&gateway, "sk-og-spender").await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-omnigate-budget-warning"), "");
    let report = usage_of(&gateway, "spender", 1).await;
    let row = &report["data"][0];
    assert_eq!(row["group"], "chat");
    assert_eq!(row["prompt_tokens"], 9);
    assert_eq!(row["completion_tokens"], 8);
    assert!(
        (row["spend_usd"].as_f64().unwrap() - 0.017).abs() < 1e-9,
        "{report}"
    );

    let second = chat_as(&gateway, "sk-og-spender").await;
    assert_eq!(second.status(), 200);
    assert!(
        header(&second, "x-omnigate-budget-warning").contains("soft budget"),
        "past the soft budget"
    );
    usage_of(&gateway, "spender", 2).await;
    let refused = chat_as(&gateway, "sk-og-spender").await;
    let error = expect_error(refused, 429).await;
    assert_eq!(error["code"], "insufficient_quota");
    assert_eq!(error["type"], "insufficient_quota");
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test]
async fn media_and_token_limits_count_what_the_request_carries() {
    let upstream = FakeUpstream::start().await;
    let keys = r#"
[[keys]]
id = "listener"
secret = "sk-og-listener"
limits = { audio_seconds_per_minute = 1.5 }

[[keys]]
id = "reader"
secret = "sk-og-reader"
limits = { tokens_per_minute = 40 }
"#;
    let gateway = Gateway::from_toml(&config(&upstream, keys)).await;
    let transcribe = || async {
        gateway
            .client
            .post(gateway.url("/v1/audio/transcriptions"))
            .bearer_auth("sk-og-listener")
            .multipart(form("asr", None, wav(16_000, 1)))
            .send()
            .await
            .unwrap()
    };
    let first = transcribe().await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-ratelimit-limit-audio-ms"), "1500");
    assert_eq!(header(&first, "x-ratelimit-remaining-audio-ms"), "500");
    let second = transcribe().await;
    let error = expect_error(second, 429).await;
    assert!(error["message"].as_str().unwrap().contains("audio seconds"));

    // Each chat is estimated at 2 tokens ("Hi there") plus max_tokens 20, then corrected to the
    // 17 the answer reports.
    let body = json!({"model": "chat", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi there"}]});
    let first = post(
        &gateway,
        "sk-og-reader",
        "/v1/chat/completions",
        body.clone(),
    )
    .await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-ratelimit-remaining-tokens"), "18");
    usage_of(&gateway, "reader", 1).await;
    // 17 used, 23 left: another 22-token estimate fits.
    let second = post(
        &gateway,
        "sk-og-reader",
        "/v1/chat/completions",
        body.clone(),
    )
    .await;
    assert_eq!(second.status(), 200);
    assert_eq!(header(&second, "x-ratelimit-remaining-tokens"), "1");
    let third = post(&gateway, "sk-og-reader", "/v1/chat/completions", body).await;
    assert_eq!(header(&third, "x-ratelimit-limit-tokens"), "40");
    expect_error(third, 429).await;
}

#[tokio::test]
async fn a_key_may_have_only_so_many_requests_in_flight() {
    let upstream = FakeUpstream::start().await;
    upstream.hold_streams_after(1);
    let keys = r#"
[[keys]]
id = "single"
secret = "sk-og-single"
limits = { max_concurrent = 1 }
"#;
    let gateway = Gateway::from_toml(&config(&upstream, keys)).await;
    let stream =
        json!({"model": "chat", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    let held = post(&gateway, "sk-og-single", "/v1/chat/completions", stream).await;
    assert_eq!(held.status(), 200);
    let second = chat_as(&gateway, "sk-og-single").await;
    let error = expect_error(second, 429).await;
    assert!(error["message"].as_str().unwrap().contains("in flight"));
    upstream.release_stream();
    let text = held.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    // The stream's end freed the slot (settlement runs just after it).
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let again = chat_as(&gateway, "sk-og-single").await;
        if again.status() == 200 {
            break;
        }
        assert!(Instant::now() < give_up, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary, its config rewritten and SIGHUP sent: the new keys work, the removed one is
/// refused, and a broken config changes nothing.

#[tokio::test]
async fn a_keyed_stream_is_billed_by_the_usage_it_reports() {
    let upstream = FakeUpstream::start().await;
    let keys = "[[keys]]\nid = \"streamer\"\nsecret = \"sk-og-streamer\"\n";
    let gateway = Gateway::from_toml(&config(&upstream, keys)).await;
    let body = |include_usage: bool| {
        let mut body = json!({"model": "chat", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
        if include_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    };
    // The client did not ask for usage: the gateway asks upstream, bills it, and passes the
    // stream on without the usage chunk.
    let text = post(
        &gateway,
        "sk-og-streamer",
        "/v1/chat/completions",
        body(false),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(
        !text.contains("\"usage\":{"),
        "no usage chunk the client did not ask for: {text}"
    );
    let asked = upstream.last_request();
    assert_eq!(asked.body["stream_options"]["include_usage"], true);
    let report = usage_of(&gateway, "streamer", 1).await;
    assert_eq!(report["data"][0]["prompt_tokens"], 9, "{report}");
    assert_eq!(report["data"][0]["completion_tokens"], 8);
    assert!((report["data"][0]["spend_usd"].as_f64().unwrap() - 0.017).abs() < 1e-9);
    // The client asked: it gets the usage chunk as well.
    let text = post(
        &gateway,
        "sk-og-streamer",
        "/v1/chat/completions",
        body(true),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(text.contains("\"prompt_tokens\":9"), "{text}");
    usage_of(&gateway, "streamer", 2).await;
}
