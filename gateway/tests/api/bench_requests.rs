//! The overhead benchmark's requests (`gateway/bench/inputs.sh`: its config and four bodies)
//! sent once through the gateway in front of the benchmark's own upstream, so CI runs the code
//! paths the benchmark times. Nothing here is timed.

use crate::common::Gateway;
use base64::Engine;
use omnigate_testkit::bench_upstream;
use serde_json::{Value, json};

const MESSAGE: &str = "Please summarize in one sentence: the quick brown fox jumps over the lazy \
dog near the riverbank, while the morning fog slowly lifts over the quiet village and the bakers \
start warming their ovens. Ok";

/// The benchmark upstream on a loopback port: its `/v1` base URL.
async fn start_bench_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, bench_upstream::router())
            .await
            .unwrap();
    });
    format!("http://{addr}/v1")
}

/// `gateway/bench/inputs.sh`'s config, on port 0.
fn bench_config(upstream: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
api_keys = ["sk-bench"]
worker_threads = 1
[models.mock]
tasks = ["chat", "embeddings"]
[[models.mock.deployments]]
kind = "openai"
base_url = "{upstream}"
[models.mock-vision]
modalities = ["text", "image"]
[models.mock-vision.image]
max_side = 448
fit = "pad"
[[models.mock-vision.deployments]]
kind = "openai"
base_url = "{upstream}"
model = "mock"
"#
    )
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

#[tokio::test]
async fn the_overhead_benchmarks_requests_are_answered_as_the_benchmark_expects() {
    let gateway = Gateway::from_toml(&bench_config(&start_bench_upstream().await)).await;
    let text = json!([{"role": "user", "content": MESSAGE}]);

    let chat: Value = post(
        &gateway,
        "/v1/chat/completions",
        json!({"model": "mock", "messages": text}),
    )
    .await
    .json()
    .await
    .unwrap();
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

    let embeddings: Value = post(
        &gateway,
        "/v1/embeddings",
        json!({"model": "mock", "input": MESSAGE}),
    )
    .await
    .json()
    .await
    .unwrap();
    let vector = embeddings["data"][0]["embedding"].as_array().unwrap();
    assert_eq!(vector.len(), bench_upstream::DIMENSIONS);

    let picture = bench_upstream::jpeg(1280, 960).unwrap();
    let url = format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(picture)
    );
    let image_chat: Value = post(
        &gateway,
        "/v1/chat/completions",
        json!({"model": "mock-vision", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Describe this."},
            {"type": "image_url", "image_url": {"url": url}},
        ]}]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(image_chat["model"], "mock-vision");
    // Normalized to 448×448 (the longer side fitted, the rest padded) before the upstream.
    assert_eq!(image_chat["usage"]["media"]["images"], 1);
    assert_eq!(image_chat["usage"]["media"]["image_pixels"], 448 * 448);
}
