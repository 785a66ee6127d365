//! The benchmark's OpenAI-compatible upstream: answers chat (plain and SSE), embeddings and
//! models from prebuilt bytes in microseconds, so that what a benchmark measures is the gateway
//! in front of it. Served by the `omnigate-mock-upstream` binary (`gateway/bench/`), and by
//! the gateway's tests that run the benchmark's requests once.

use axum::Router;
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;

/// Dimensions of the embeddings it answers.
pub const DIMENSIONS: usize = 384;
/// The streamed answer's text, the concatenation of its deltas.
pub const STREAMED_TEXT: &str = "This is a fixed answer.";

const CHAT: &str = r#"{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"mock","choices":[{"index":0,"message":{"role":"assistant","content":"This is a fixed answer from the mock upstream."},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":50,"completion_tokens":10,"total_tokens":60}}"#;
const MODELS: &str =
    r#"{"object":"list","data":[{"id":"mock","object":"model","created":0,"owned_by":"mock"}]}"#;

fn stream_body(include_usage: bool) -> Bytes {
    let mut out = String::new();
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"mock\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    out.push_str(&chunk(r#"{"role":"assistant","content":""}"#, "null"));
    // The deltas of STREAMED_TEXT.
    for word in ["This is ", "a fixed ", "answer."] {
        out.push_str(&chunk(&format!("{{\"content\":\"{word}\"}}"), "null"));
    }
    out.push_str(&chunk("{}", "\"stop\""));
    if include_usage {
        out.push_str("data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"mock\",\"choices\":[],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":10,\"total_tokens\":60}}\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    Bytes::from(out)
}

fn embeddings_body(base64: bool) -> Bytes {
    let vector: Vec<f32> = (0..DIMENSIONS)
        .map(|i| (i as f32 * 0.37).sin() * 0.05)
        .collect();
    let embedding = if base64 {
        use base64::Engine;
        let raw: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
        format!(
            "\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    } else {
        serde_json::to_string(&vector).unwrap_or_default()
    };
    Bytes::from(format!(
        r#"{{"object":"list","data":[{{"object":"embedding","index":0,"embedding":{embedding}}}],"model":"mock","usage":{{"prompt_tokens":50,"total_tokens":50}}}}"#
    ))
}

fn json(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Looks for a JSON flag without parsing the body (a mock must cost next to nothing).
fn has(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|w| w == needle)
}

/// The benchmark upstream's routes: `/v1/chat/completions` (plain, or SSE when the body asks
/// for `"stream":true`), `/v1/embeddings` (floats, or base64 when asked), `/v1/models`,
/// `/health`; and an OTLP/HTTP sink for the traced benchmark: `POST /v1/traces` takes an
/// export and answers success without decoding it, `GET /v1/traces` says how many exports and
/// bytes arrived (`{"exports":N,"bytes":N}`).
pub fn router() -> Router {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let exports = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let counted = Arc::clone(&exports);
    let stream = stream_body(false);
    let stream_usage = stream_body(true);
    let floats = embeddings_body(false);
    let base64 = embeddings_body(true);
    Router::new()
        .route(
            "/v1/chat/completions",
            post(move |body: Bytes| async move {
                let streaming = has(&body, b"\"stream\":true") || has(&body, b"\"stream\": true");
                if !streaming {
                    return json(Bytes::from_static(CHAT.as_bytes()));
                }
                let events = if has(&body, b"include_usage") {
                    stream_usage
                } else {
                    stream
                };
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    Body::from(events),
                )
                    .into_response()
            }),
        )
        .route(
            "/v1/embeddings",
            post(move |body: Bytes| async move {
                json(if has(&body, b"base64") {
                    base64
                } else {
                    floats
                })
            }),
        )
        .route(
            "/v1/models",
            get(|| async { json(Bytes::from_static(MODELS.as_bytes())) }),
        )
        .route("/health", get(|| async { "ok" }))
        .route(
            "/v1/traces",
            post(move |body: Bytes| async move {
                counted[0].fetch_add(1, Ordering::Relaxed);
                counted[1].fetch_add(body.len() as u64, Ordering::Relaxed);
                // An empty ExportTraceServiceResponse: full success.
                (
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    Bytes::new(),
                )
            })
            .get(move || async move {
                let [requests, bytes] = &*exports;
                json(Bytes::from(format!(
                    r#"{{"exports":{},"bytes":{}}}"#,
                    requests.load(Ordering::Relaxed),
                    bytes.load(Ordering::Relaxed)
                )))
            }),
        )
}

/// Faults the routing benchmark gives a mock: latency, and a share of 500s.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Added before every answer.
    pub delay: std::time::Duration,
    /// This many of every hundred requests answer 500 (spread evenly, not at random, so a
    /// run's count is exact).
    pub fail_percent: u32,
}

/// [`router`] with `faults` on every route but `/health`.
pub fn router_with(faults: Faults) -> Router {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let counter = Arc::new(AtomicU64::new(0));
    let faulty = axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let counter = Arc::clone(&counter);
            async move {
                if request.uri().path() == "/health" {
                    return next.run(request).await;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if !faults.delay.is_zero() {
                    tokio::time::sleep(faults.delay).await;
                }
                // Bresenham-style: exactly fail_percent of every 100, spread out.
                let fails = |k: u64| k * u64::from(faults.fail_percent) / 100;
                if fails(n + 1) > fails(n) {
                    return (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        json(Bytes::from_static(
                            br#"{"error":{"message":"mock failure","type":"server_error"}}"#,
                        )),
                    )
                        .into_response();
                }
                next.run(request).await
            }
        },
    );
    router().layer(faulty)
}

/// The benchmark's picture: a `width`×`height` JPEG (quality 90) of a gradient with detail, so
/// it has a photo's size; `None` if encoding fails.
pub fn jpeg(width: u32, height: u32) -> Option<Vec<u8>> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
    });
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    picture.write_with_encoder(encoder).ok()?;
    Some(out)
}
