//! Every error status the gateway answers, each in the OpenAI envelope.

use crate::common::{Gateway, chat_body, expect_error};
use omnigate_testkit::{FakeUpstream, Mode};
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400_invalid_json() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let response = gateway
        .client
        .post(gateway.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{\"model\": \"chat\", \"messages\": [")
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400).await;
    assert_eq!(error["code"], "invalid_json");
    assert_eq!(error["type"], "invalid_request_error");
}

#[tokio::test]
async fn invalid_fields_are_400_naming_the_field() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let cases = [
        (json!({"model": "chat", "messages": []}), "messages"),
        (json!({"model": "chat", "messages": "hi"}), "messages"),
        (
            json!({"model": "chat", "messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "chat", "messages": [{"role": "user", "content": [{"type": "hologram"}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model": "chat", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"model": "chat", "messages": [{"role": "user", "content": "x"}],
                "stream_options": {"include_usage": true}}),
            "stream_options",
        ),
    ];
    for (body, param) in cases {
        let response = gateway
            .post_json("/v1/chat/completions", body.clone())
            .await;
        let error = expect_error(response, 400).await;
        assert_eq!(error["param"], param, "for {body}: {error}");
    }
    assert!(
        upstream.requests().is_empty(),
        "invalid requests never reach the upstream"
    );
}

#[tokio::test]
async fn media_for_a_text_only_model_is_400_naming_the_part() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let body = json!({"model": "chat", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]});
    let error = expect_error(gateway.post_json("/v1/chat/completions", body).await, 400).await;
    assert_eq!(error["param"], "messages[0].content[1]");
    assert!(error["message"].as_str().unwrap().contains("image"));
}

#[tokio::test]
async fn missing_or_wrong_api_key_is_401() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start_with(&upstream, r#"api_keys = ["sk-good"]"#).await;
    let url = gateway.url("/v1/chat/completions");
    let missing = gateway
        .client
        .post(&url)
        .json(&chat_body("chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let error = expect_error(missing, 401).await;
    assert_eq!(error["type"], "authentication_error");
    let wrong = gateway
        .client
        .post(&url)
        .bearer_auth("sk-bad")
        .json(&chat_body("chat"))
        .send()
        .await
        .unwrap();
    expect_error(wrong, 401).await;
    let models = gateway.get("/v1/models").await;
    expect_error(models, 401).await;
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn unknown_model_route_and_method() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", chat_body("nope"))
            .await,
        404,
    )
    .await;
    assert_eq!(error["code"], "model_not_found");
    assert_eq!(error["param"], "model");
    expect_error(gateway.get("/v1/models/nope").await, 404).await;
    expect_error(gateway.get("/v2/everything").await, 404).await;
    expect_error(gateway.get("/v1/chat/completions").await, 405).await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start_with(&upstream, "max_body_bytes = 2048").await;
    let big = "x".repeat(4096);
    let body = json!({"model": "chat", "messages": [{"role": "user", "content": big}]});
    let error = expect_error(gateway.post_json("/v1/chat/completions", body).await, 413).await;
    assert_eq!(error["code"], "request_too_large");
    // Without a Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b' '; 1500]), Ok(vec![b' '; 1500])];
    let response = gateway
        .client
        .post(gateway.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    expect_error(response, 413).await;
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let response = gateway
        .client
        .post(gateway.url("/v1/chat/completions"))
        .header("content-type", "text/plain")
        .body(chat_body("chat").to_string())
        .send()
        .await
        .unwrap();
    expect_error(response, 415).await;
}

#[tokio::test]
async fn task_the_model_does_not_serve_is_422() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let body = json!({"model": "chat", "input": "embed me"});
    let error = expect_error(gateway.post_json("/v1/embeddings", body).await, 422).await;
    assert_eq!(error["param"], "model");
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", chat_body("embed"))
            .await,
        422,
    )
    .await;
    assert_eq!(error["code"], "unprocessable_request");
}

#[tokio::test]
async fn upstream_failures_map_to_gateway_statuses() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let cases = [
        (500, 502),
        (502, 502),
        (401, 502),
        (503, 503),
        (429, 429),
        (400, 400),
        (422, 422),
    ];
    for (upstream_status, gateway_status) in cases {
        upstream.set_mode(Mode::Fail(upstream_status));
        let response = gateway
            .post_json("/v1/chat/completions", chat_body("chat"))
            .await;
        let error = expect_error(response, gateway_status).await;
        let message = error["message"].as_str().unwrap();
        if gateway_status >= 500 {
            assert!(
                !message.contains("fake upstream"),
                "5xx details stay in the log: {message}"
            );
        }
        if upstream_status == 400 {
            assert!(
                message.contains("fake upstream failure 400"),
                "client errors are relayed: {message}"
            );
            assert_eq!(error["param"], "messages");
        }
    }
    upstream.set_mode(Mode::Garbage);
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", chat_body("chat"))
            .await,
        502,
    )
    .await;
    assert_eq!(error["code"], "bad_gateway");
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await; // deployments time out after 1 s
    upstream.set_mode(Mode::Hang);
    let started = std::time::Instant::now();
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", chat_body("chat"))
            .await,
        504,
    )
    .await;
    assert_eq!(error["code"], "upstream_timeout");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "bounded, not a hang"
    );
    let body =
        json!({"model": "chat", "messages": [{"role": "user", "content": "x"}], "stream": true});
    expect_error(gateway.post_json("/v1/chat/completions", body).await, 504).await;
}

#[tokio::test]
async fn upstream_connection_refused_is_503() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    upstream.stop().await;
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", chat_body("chat"))
            .await,
        503,
    )
    .await;
    assert_eq!(error["code"], "service_unavailable");
    let body = json!({"model": "embed", "input": ["a"]});
    expect_error(gateway.post_json("/v1/embeddings", body).await, 503).await;
}
