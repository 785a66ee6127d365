//! Plain chat completions through the gateway.

use crate::common::{Gateway, chat_body, expect_error};
use omnigate_testkit::{FakeUpstream, answer_text};
use serde_json::json;

#[tokio::test]
async fn chat_completion_round_trip() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let response = gateway
        .post_json("/v1/chat/completions", chat_body("chat"))
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["model"], "chat",
        "the public name is answered, not the upstream's"
    );
    assert_eq!(
        body["choices"][0]["message"]["content"],
        answer_text("upstream-chat")
    );
    assert_eq!(body["usage"]["total_tokens"], 17);
    assert_eq!(
        body["system_fingerprint"], "fp_fake",
        "unknown response fields survive"
    );
}

#[tokio::test]
async fn unknown_and_known_fields_reach_the_upstream_unchanged() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let body = json!({
        "model": "chat",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "part one"}], "name": "ann"},
            {"role": "assistant", "content": null,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"}
        ],
        "temperature": 0.2, "max_completion_tokens": 9, "top_k": 5,
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "chat_template_kwargs": {"enable_thinking": false}
    });
    let response = gateway.post_json("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    let sent = upstream.last_request().body;
    assert_eq!(sent["model"], "upstream-chat");
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(sent["max_completion_tokens"], 9);
    assert_eq!(sent["top_k"], 5);
    assert_eq!(sent["chat_template_kwargs"]["enable_thinking"], false);
    assert_eq!(sent["tools"][0]["function"]["name"], "f");
    assert_eq!(sent["messages"][1]["name"], "ann");
    assert_eq!(sent["messages"][1]["content"][0]["text"], "part one");
    assert_eq!(sent["messages"][2]["tool_calls"][0]["id"], "c1");
    assert!(sent["messages"][2]["content"].is_null());
    assert_eq!(sent["messages"][3]["tool_call_id"], "c1");
    assert!(sent.get("stream").is_none());
}

#[tokio::test]
async fn requests_spread_over_deployments_round_robin() {
    let first = FakeUpstream::start().await;
    let second = FakeUpstream::start().await;
    let toml = format!(
        r#"
[server]
bind = "127.0.0.1:0"
[models.pair]
routing = {{ strategy = "round_robin" }}
[[models.pair.deployments]]
kind = "openai"
base_url = "{}"
[[models.pair.deployments]]
kind = "openai"
base_url = "{}"
"#,
        first.base_url(),
        second.base_url()
    );
    let gateway = Gateway::from_toml(&toml).await;
    for _ in 0..4 {
        let response = gateway
            .post_json("/v1/chat/completions", chat_body("pair"))
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(first.requests().len(), 2);
    assert_eq!(second.requests().len(), 2);
    assert_eq!(
        first.last_request().body["model"],
        "pair",
        "upstream name defaults to the public one"
    );
}

#[tokio::test]
async fn api_keys_are_required_when_configured() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start_with(&upstream, r#"api_keys = ["sk-good", "sk-other"]"#).await;
    let url = gateway.url("/v1/chat/completions");
    let ok = gateway
        .client
        .post(&url)
        .bearer_auth("sk-other")
        .json(&chat_body("chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // Probes stay open without a key.
    assert_eq!(gateway.get("/health").await.status(), 200);
}

#[tokio::test]
async fn answers_are_relayed_byte_for_byte_with_only_the_model_renamed() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    // Number spellings, escapes and key order a decode/re-encode would change.
    let answer = r#"{"id":"c9","object":"chat.completion","created":1,"model":"upstream-chat","x_score":1.50,"choices":[{"index":0,"message":{"role":"assistant","content":"caf\u00e9"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
    upstream.answer_verbatim("application/json", answer);
    let response = gateway
        .post_json("/v1/chat/completions", chat_body("chat"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.text().await.unwrap(),
        answer.replace(r#""upstream-chat""#, r#""chat""#)
    );
}

#[tokio::test]
async fn a_200_that_is_not_a_completion_is_a_bad_gateway() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    for body in [
        r#"{"error":{"message":"model overloaded","type":"server_error"}}"#,
        r#"{"id":"c9","model":"upstream-chat"}"#,
        r#"{"id":"c9","model":null,"choices":[]}"#,
        r#"{"id":"c9","model":"upstream-chat","choices":[}"#,
    ] {
        upstream.answer_verbatim("application/json", body);
        let response = gateway
            .post_json("/v1/chat/completions", chat_body("chat"))
            .await;
        let error = expect_error(response, 502).await;
        assert!(error["message"].is_string(), "{body}: {error}");
    }
}
