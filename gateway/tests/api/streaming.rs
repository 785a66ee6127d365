//! Streaming chat: events relayed as they arrive, usage chunk on request, mid-stream failures
//! reported in-band, and a client that hangs up cancels the upstream request.

use crate::common::{Gateway, SHORT};
use futures::StreamExt;
use omnigate_testkit::{FakeUpstream, answer_text};
use serde_json::{Value, json};
use std::time::Duration;

fn stream_body(include_usage: bool) -> Value {
    let mut body = json!({"model": "chat", "stream": true,
        "messages": [{"role": "user", "content": "Hi"}]});
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// Splits an SSE body into its `data:` payloads.
fn data_lines(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn stream_is_relayed_with_usage_and_done() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let response = gateway
        .post_json("/v1/chat/completions", stream_body(true))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let data = data_lines(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, answer_text("upstream-chat"));
    assert!(chunks.iter().all(|c| c["model"] == "chat"));
    let usage = chunks.last().unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 17);
    assert_eq!(usage["choices"], json!([]));
    let sent = upstream.last_request().body;
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn chunks_arrive_before_the_upstream_finishes() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start_with(&upstream, "").await;
    upstream.hold_streams_after(2);
    let response = gateway
        .post_json("/v1/chat/completions", stream_body(false))
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    // The upstream is holding its stream open; the first deltas must already be here.
    while !seen.contains("Hello") {
        let chunk = tokio::time::timeout(SHORT, body.next())
            .await
            .expect("a chunk arrives while the upstream is still streaming")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("[DONE]"));
    assert_eq!(
        upstream.streams_completed(),
        0,
        "the upstream has not finished yet"
    );
    upstream.release_stream();
    while let Some(chunk) = tokio::time::timeout(SHORT, body.next()).await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(seen.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_request() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    upstream.hold_streams_after(2);
    let response = gateway
        .post_json("/v1/chat/completions", stream_body(false))
        .await;
    let mut body = response.bytes_stream();
    let first = tokio::time::timeout(SHORT, body.next()).await.unwrap();
    assert!(first.is_some());
    drop(body);
    assert!(
        upstream.wait_for_cancel(Duration::from_secs(5)).await,
        "the upstream saw its request cancelled"
    );
    assert_eq!(upstream.streams_completed(), 0);
}

#[tokio::test]
async fn upstream_stalling_mid_stream_ends_with_an_error_event() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await; // 1 s idle deadline
    upstream.hold_streams_after(2);
    let response = gateway
        .post_json("/v1/chat/completions", stream_body(false))
        .await;
    assert_eq!(response.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(20), response.text())
        .await
        .unwrap()
        .unwrap();
    let data = data_lines(&text);
    let error: Value = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v.get("error").is_some())
        .expect("an error event");
    assert_eq!(error["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn events_are_relayed_verbatim_whatever_the_upstream_line_ends() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let first = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"upstream-chat","choices":[{"index":0,"delta":{"role":"assistant","content":"caf\u00e9"},"finish_reason":null}],"x_p":1.50}"#;
    let last = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"upstream-chat","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    // CRLF line ends, a keep-alive comment and an event without data, as servers send them.
    let body = format!(
        ": ping\r\n\r\nevent: x\r\n\r\ndata: {first}\r\n\r\ndata:{last}\r\rdata: [DONE]\r\n\r\n"
    );
    upstream.answer_verbatim("text/event-stream", body);
    let response = gateway
        .post_json("/v1/chat/completions", stream_body(false))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let renamed = |chunk: &str| chunk.replace(r#""upstream-chat""#, r#""chat""#);
    assert_eq!(
        data_lines(&text),
        [renamed(first), renamed(last), "[DONE]".to_owned()]
    );
}
