//! MiniLM through /v1/embeddings: the reference vectors, usage, batching, 429 on a full queue.

use base64::Engine;
use serde_json::{Value, json};

use crate::{gateway, post, start, workspace_file};

fn reference() -> Value {
    let path = workspace_file("backends/burn/models/minilm/testdata/reference_embeddings.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn embeddings_equal_the_independent_reference() {
    let reference = reference();
    // The API refuses empty strings (as OpenAI's does); the crate's own test covers that case.
    let cases: Vec<&Value> = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["text"] != "")
        .collect();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let (status, body) = post(
        gateway(),
        "/v1/embeddings",
        &json!({ "model": "all-minilm-l6-v2", "input": texts, "encoding_format": "float" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "all-minilm-l6-v2");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), cases.len());
    let mut tokens = 0;
    for (case, item) in cases.iter().zip(data) {
        let want = case["embedding"].as_array().unwrap();
        let got = item["embedding"].as_array().unwrap();
        assert_eq!(got.len(), 384);
        for (g, w) in got.iter().zip(want) {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() < 1e-4, "{}: {g} vs {w}", case["text"]);
        }
        tokens += case["tokens"].as_u64().unwrap();
    }
    assert_eq!(body["usage"]["prompt_tokens"].as_u64(), Some(tokens));
    let truncated = cases.iter().filter(|c| c["truncated"] == true).count();
    assert!(
        truncated > 0,
        "the reference includes a text over 256 tokens"
    );
    assert_eq!(
        body["usage"]["truncated_inputs"].as_u64(),
        Some(truncated as u64)
    );
}

#[tokio::test]
async fn base64_vectors_decode_to_the_float_ones() {
    let input = "Base64 carries the same little-endian floats.";
    let ask = |format: &str| json!({ "model": "all-minilm-l6-v2", "input": input, "encoding_format": format });
    let (_, floats) = post(gateway(), "/v1/embeddings", &ask("float")).await;
    let (status, encoded) = post(gateway(), "/v1/embeddings", &ask("base64")).await;
    assert_eq!(status, 200, "{encoded}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let floats: Vec<f32> = floats["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(decoded, floats);
    let norm: f32 = decoded.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "L2-normalized: {norm}");
}

#[tokio::test]
async fn a_dimension_the_model_does_not_have_is_a_400() {
    let (status, body) = post(
        gateway(),
        "/v1/embeddings",
        &json!({ "model": "all-minilm-l6-v2", "input": "x", "dimensions": 256 }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "dimensions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_forward_passes() {
    let addr = gateway();
    let before = batches(addr).await;
    let calls = (0..32).map(|i| async move {
        let body = json!({ "model": "all-minilm-l6-v2", "input": format!("sentence number {i} of a burst") });
        post(addr, "/v1/embeddings", &body).await
    });
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
    }
    let (count, sum) = batches(addr).await;
    let (count, sum) = (count - before.0, sum - before.1);
    assert_eq!(sum, 32.0, "every request ran exactly once");
    assert!(
        count < 32.0,
        "32 concurrent requests ran in {count} batches: none was shared"
    );
}

/// `(batches run, requests run)` by the MiniLM model so far, from /metrics.
async fn batches(addr: std::net::SocketAddr) -> (f64, f64) {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains("model=\"all-minilm-l6-v2\""))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    };
    (
        value("omnigate_embedded_batch_size_count"),
        value("omnigate_embedded_batch_size_sum"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_and_the_rest_are_served() {
    let addr = start(
        r#"
[server]
bind = "127.0.0.1:0"
[models.tiny-queue]
tasks = ["embeddings"]
[[models.tiny-queue.deployments]]
kind = "embedded"
architecture = "minilm"
max_batch_size = 1
queue_capacity = 1
"#,
    );
    let long = "a long sentence that keeps the model busy for a while ".repeat(20);
    let calls = (0..24).map(|_| {
        let body = json!({ "model": "tiny-queue", "input": long });
        async move { post(addr, "/v1/embeddings", &body).await }
    });
    let answers = futures::future::join_all(calls).await;
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, b)| b)
        .collect();
    let served = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(
        !refused.is_empty(),
        "24 requests into a queue of 1 and none refused"
    );
    assert!(served >= 1, "{answers:?}");
    assert_eq!(served + refused.len(), 24, "only 200 or 429: {answers:?}");
    assert!(
        refused[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("queued"),
        "{}",
        refused[0]
    );
}
