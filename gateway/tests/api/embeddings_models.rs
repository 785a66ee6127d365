//! Embeddings and the model list.

use crate::common::{Gateway, expect_error};
use omnigate_testkit::{EMBEDDING_DIM, FakeUpstream};
use serde_json::json;

#[tokio::test]
async fn embeddings_round_trip_in_order() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let body = json!({"model": "embed", "input": ["one", "two", "three"], "user": "u1"});
    let response = gateway.post_json("/v1/embeddings", body).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "embed");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["index"], i);
        assert_eq!(item["embedding"].as_array().unwrap().len(), EMBEDDING_DIM);
    }
    let sent = upstream.last_request().body;
    assert_eq!(sent["model"], "upstream-embed");
    assert_eq!(sent["user"], "u1");
}

#[tokio::test]
async fn base64_embeddings_pass_through() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let body = json!({"model": "embed", "input": "one", "encoding_format": "base64"});
    let body: serde_json::Value = gateway
        .post_json("/v1/embeddings", body)
        .await
        .json()
        .await
        .unwrap();
    assert!(body["data"][0]["embedding"].is_string());
    assert_eq!(upstream.last_request().body["encoding_format"], "base64");
}

#[tokio::test]
async fn empty_embedding_input_is_400() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    for input in [json!([]), json!(""), json!(["a", ""])] {
        let body = json!({"model": "embed", "input": input});
        let error = expect_error(gateway.post_json("/v1/embeddings", body).await, 400).await;
        assert_eq!(error["param"], "input");
    }
}

#[tokio::test]
async fn models_are_listed_and_retrievable() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let list: serde_json::Value = gateway.get("/v1/models").await.json().await.unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chat", "embed"]);
    let one = gateway.get("/v1/models/chat").await;
    assert_eq!(one.status(), 200);
    let one: serde_json::Value = one.json().await.unwrap();
    assert_eq!(one["id"], "chat");
    assert_eq!(one["object"], "model");
    assert_eq!(one["owned_by"], "omnigate");
}

#[tokio::test]
async fn embedding_vectors_are_relayed_as_the_upstream_wrote_them() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let answer = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.10,-2E-3,7]}],"model":"upstream-embed","usage":{"prompt_tokens":1,"total_tokens":1}}"#;
    upstream.answer_verbatim("application/json", answer);
    let response = gateway
        .post_json("/v1/embeddings", json!({"model": "embed", "input": "x"}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        answer.replace(r#""upstream-embed""#, r#""embed""#)
    );
}
