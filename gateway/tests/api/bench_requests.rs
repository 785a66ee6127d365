//! The overhead benchmark's requests (`gateway/bench/inputs.sh`: its config and four bodies)
//! sent once through the gateway in front of the benchmark's own upstream, so CI runs the code
//! paths the benchmark times. Nothing here is timed.

use crate::common::Gateway;
use base64::Engine;
use omnigate_testkit::bench_upstream;
use serde_json::{Value, json};

/// `gateway/bench/inputs.sh`, which both benchmark scripts source: the test reads its config
/// and message from there, so it cannot drift from what the benchmarks send.
const INPUTS: &str = include_str!("../../bench/inputs.sh");

/// The text between `start` and the next `end` in `INPUTS`.
fn from_inputs(start: &str, end: &str) -> &'static str {
    let from = INPUTS.find(start).unwrap() + start.len();
    let to = INPUTS[from..].find(end).unwrap();
    &INPUTS[from..from + to]
}

/// The benchmark's config, on port 0, in front of `upstream` (`host:port`).
fn bench_config(upstream: &str) -> String {
    let mock_port = upstream.rsplit(':').next().unwrap();
    from_inputs("<<TOML\n", "\nTOML")
        .replace("127.0.0.1:$GW_PORT", "127.0.0.1:0")
        .replace("$MOCK_PORT", mock_port)
}

/// The benchmark's user message.
fn message() -> &'static str {
    from_inputs("msg=\"", "\"")
}

/// The benchmark upstream on a loopback port: its address.
async fn start_bench_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, bench_upstream::router())
            .await
            .unwrap();
    });
    addr.to_string()
}

async fn post(gateway: &Gateway, path: &str, body: Value) -> reqwest::Response {
    let response = gateway
        .client
        .post(gateway.url(path))
        .bearer_auth("sk-bench")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let overhead = response.headers()["x-omnigate-overhead-ms"]
        .to_str()
        .unwrap();
    assert!(overhead.parse::<f64>().unwrap() >= 0.0, "{overhead}");
    response
}

async fn post_for_json(gateway: &Gateway, path: &str, body: Value) -> Value {
    post(gateway, path, body).await.json().await.unwrap()
}

#[tokio::test]
async fn the_overhead_benchmarks_requests_are_answered_as_the_benchmark_expects() {
    let gateway = Gateway::from_toml(&bench_config(&start_bench_upstream().await)).await;
    assert!(message().starts_with("Please summarize") && message().len() > 100);
    let text = json!([{"role": "user", "content": message()}]);

    let chat: Value = post_for_json(
        &gateway,
        "/v1/chat/completions",
        json!({"model": "mock", "messages": text}),
    )
    .await;
    assert_eq!(chat["model"], "mock");
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");
    assert!(
        chat["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("mock upstream")
    );

    let stream = post(
        &gateway,
        "/v1/chat/completions",
        json!({"model": "mock", "stream": true, "messages": text}),
    )
    .await
    .text()
    .await
    .unwrap();
    let events: Vec<&str> = stream
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{stream}");
    let mut streamed = String::new();
    for event in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        assert_eq!(chunk["model"], "mock");
        streamed += chunk["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap_or("");
    }
    assert_eq!(streamed, bench_upstream::STREAMED_TEXT);

    let embeddings: Value = post_for_json(
        &gateway,
        "/v1/embeddings",
        json!({"model": "mock", "input": message()}),
    )
    .await;
    let vector = embeddings["data"][0]["embedding"].as_array().unwrap();
    assert_eq!(vector.len(), bench_upstream::DIMENSIONS);

    let picture = bench_upstream::jpeg(1280, 960).unwrap();
    let url = format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(picture)
    );
    let image_chat: Value = post_for_json(
        &gateway,
        "/v1/chat/completions",
        json!({"model": "mock-vision", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Describe this."},
            {"type": "image_url", "image_url": {"url": url}},
        ]}]}),
    )
    .await;
    assert_eq!(image_chat["model"], "mock-vision");
    // Normalized to 448×448 (the longer side fitted, the rest padded) before the upstream.
    assert_eq!(image_chat["usage"]["media"]["images"], 1);
    assert_eq!(image_chat["usage"]["media"]["image_pixels"], 448 * 448);
}
