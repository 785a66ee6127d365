//! A scriptable OpenAI-compatible upstream for tests: a real HTTP server on a loopback port that
//! answers chat (plain and SSE), embeddings and models, and can be told to be slow, fail with a
//! status, hang, hold its stream open, or go away. It records what it received and notices when a
//! client abandons a stream, so tests can prove cancellation reaches the upstream.
//!
//! For routing, retry and fallback tests it also scripts faults: one-shot modes queued with
//! [`FakeUpstream::push_modes`] (fail twice, then answer), `retry-after` failures, malformed,
//! stalled and trickled bodies (see `faults.rs`), and [`FaultProxy`], a TCP proxy in front of
//! any address for the faults below HTTP (refused connections, resets, black holes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a broken fixture should fail the test loudly"
)]

pub mod bench_redis;
pub mod bench_relay;
pub mod bench_upstream;
pub mod fault_proxy;
mod faults;
mod local_server;
pub mod mlserver;
pub mod nats_server;
pub mod redis_server;

pub use fault_proxy::FaultProxy;
pub use mlserver::MlServer;
pub use nats_server::NatsServer;
pub use redis_server::RedisServer;

use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot, watch};

/// How the fake answers the next requests.
#[derive(Debug, Clone, Default)]
pub enum Mode {
    /// Answer normally.
    #[default]
    Normal,
    /// Answer normally after a delay.
    Delay(Duration),
    /// Answer with this status and an OpenAI-style error body.
    Fail(u16),
    /// Answer with 200 and a body that is not JSON.
    Garbage,
    /// Answer with 200, this content type and exactly this body (for relaying checks).
    Verbatim {
        /// The `content-type` header.
        content_type: &'static str,
        /// The body, byte for byte.
        body: String,
    },
    /// Never answer.
    Hang,
    /// Answer with this status (429 or 503, say), a `retry-after: retry_after_secs` header and
    /// an OpenAI-style error body.
    FailWithRetryAfter {
        /// The status.
        status: u16,
        /// The `retry-after` header's value, in seconds.
        retry_after_secs: u64,
    },
    /// Answer 200 with a malformed body: `application/json` cut off mid-document, or, for a
    /// stream, one SSE `data:` line that is not JSON and then the end of the stream.
    Malformed,
    /// Send the head and part of the normal answer (the first half of a JSON body, with the
    /// full `content-length`; the first event of a stream), then nothing more until the fake is
    /// dropped, when the connection is cut.
    HangMidBody,
    /// Send the normal answer one byte per interval (a JSON body keeps its `content-length`).
    Trickle(Duration),
}

/// Dimension of the fake's embeddings.
pub const EMBEDDING_DIM: usize = 4;

#[derive(Default)]
struct Shared {
    mode: Mutex<Mode>,
    /// One-shot modes, each consumed by one request before `mode` applies again.
    queued: Mutex<VecDeque<Mode>>,
    /// Requests received, on every endpoint.
    request_count: AtomicUsize,
    /// Becomes true when the fake is dropped: stalled and trickled bodies end then.
    closed: watch::Sender<bool>,
    /// Chunks sent before the stream waits for [`FakeUpstream::release_stream`].
    hold_after: Mutex<Option<usize>>,
    release: Notify,
    requests: Mutex<Vec<Recorded>>,
    streams_started: AtomicUsize,
    streams_completed: AtomicUsize,
    streams_cancelled: AtomicUsize,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path.
    pub path: String,
    /// The `authorization` header, if any.
    pub authorization: Option<String>,
    /// The W3C `traceparent` header, if any (the gateway's trace context).
    pub traceparent: Option<String>,
    /// The JSON body (Null for GETs).
    pub body: Value,
}

/// A running fake upstream. Dropping it stops the server (later connections are refused).
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeUpstream {
    /// Starts on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .route("/v1/audio/transcriptions", post(transcribe))
            .route("/v1/audio/translations", post(transcribe))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            shared,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `127.0.0.1:PORT`, the address it listens on (to put a [`FaultProxy`] in front of it).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how the following requests are answered (once the queued modes are used up).
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Queues one-shot modes: each request, on any endpoint, consumes the next one; when none
    /// is left the standing mode ([`Self::set_mode`]) applies. `push_modes([Mode::Fail(503),
    /// Mode::Fail(503)])` fails twice, then answers.
    pub fn push_modes(&self, modes: impl IntoIterator<Item = Mode>) {
        self.shared.queued.lock().unwrap().extend(modes);
    }

    /// One-shot modes not consumed yet.
    pub fn queued_modes(&self) -> usize {
        self.shared.queued.lock().unwrap().len()
    }

    /// Requests received so far, on every endpoint (how many tries reached this deployment).
    pub fn request_count(&self) -> usize {
        self.shared.request_count.load(Ordering::SeqCst)
    }

    /// From now on answers 200 with exactly `body` (see [`Mode::Verbatim`]).
    pub fn answer_verbatim(&self, content_type: &'static str, body: impl Into<String>) {
        self.set_mode(Mode::Verbatim {
            content_type,
            body: body.into(),
        });
    }

    /// Streams send `n` content chunks, then wait for [`Self::release_stream`].
    pub fn hold_streams_after(&self, n: usize) {
        *self.shared.hold_after.lock().unwrap() = Some(n);
    }

    /// Lets held streams finish.
    pub fn release_stream(&self) {
        *self.shared.hold_after.lock().unwrap() = None;
        self.shared.release.notify_waiters();
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The last request received.
    pub fn last_request(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the fake upstream received no request")
    }

    /// Streams that ran to their end.
    pub fn streams_completed(&self) -> usize {
        self.shared.streams_completed.load(Ordering::SeqCst)
    }

    /// Streams started.
    pub fn streams_started(&self) -> usize {
        self.shared.streams_started.load(Ordering::SeqCst)
    }

    /// Streams whose client went away before the end.
    pub fn streams_cancelled(&self) -> usize {
        self.shared.streams_cancelled.load(Ordering::SeqCst)
    }

    /// Waits (up to `within`) until a stream has been cancelled by its client.
    pub async fn wait_for_cancel(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.streams_cancelled() > 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Stops the server; new connections are refused from now on.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Give the accept loop a moment to close the socket.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.shared.closed.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: &Bytes) -> Value {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    shared.request_count.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    shared.requests.lock().unwrap().push(Recorded {
        path: path.to_owned(),
        authorization: header("authorization"),
        traceparent: header("traceparent"),
        body: body.clone(),
    });
    body
}

/// The fake's answer text: it names the model it was asked for.
pub fn answer_text(model: &str) -> String {
    format!("Hello from the fake upstream serving {model}.")
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = record(&shared, "/v1/chat/completions", &headers, &body);
    let streaming = request["stream"].as_bool() == Some(true);
    let mode = faults::next_mode(&shared);
    if let Some(response) = faults::misbehave(&mode, streaming).await {
        return response;
    }
    let model = request["model"].as_str().unwrap_or("unknown").to_owned();
    let text = answer_text(&model);
    if streaming {
        let include_usage = request["stream_options"]["include_usage"].as_bool() == Some(true);
        let response = stream_chat(shared.clone(), model, text, include_usage);
        return faults::shape(&shared, &mode, response).await;
    }
    let response = axum::Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000,
        "model": model, "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17}
    }))
    .into_response();
    faults::shape(&shared, &mode, response).await
}

/// Counts a stream as cancelled if it is dropped before it finished.
struct StreamGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let counter = if self.finished {
            &self.shared.streams_completed
        } else {
            &self.shared.streams_cancelled
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

fn stream_chat(shared: Arc<Shared>, model: String, text: String, include_usage: bool) -> Response {
    shared.streams_started.fetch_add(1, Ordering::SeqCst);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut guard = StreamGuard {
            shared: shared.clone(),
            finished: false,
        };
        let chunk = |delta: Value, finish: Value, usage: Option<Value>| {
            let mut c = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "created": 1_700_000_000, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            if let Some(usage) = usage {
                c["choices"] = json!([]);
                c["usage"] = usage;
            }
            Bytes::from(format!("data: {c}\n\n"))
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
            None,
        )];
        for word in text.split_inclusive(' ') {
            events.push(chunk(json!({"content": word}), Value::Null, None));
        }
        events.push(chunk(json!({}), json!("stop"), None));
        if include_usage {
            let usage = json!({"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17});
            events.push(chunk(Value::Null, Value::Null, Some(usage)));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        for (i, event) in events.into_iter().enumerate() {
            let hold = *shared.hold_after.lock().unwrap();
            if hold.is_some_and(|n| i > n) {
                let released = shared.release.notified();
                tokio::select! {
                    () = released => {}
                    () = tx.closed() => return,
                }
            }
            if tx.send(Ok(event)).await.is_err() {
                return; // client gone: the guard counts a cancellation
            }
        }
        guard.finished = true;
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    ([("content-type", "text/event-stream")], body).into_response()
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = record(&shared, "/v1/embeddings", &headers, &body);
    let mode = faults::next_mode(&shared);
    if let Some(response) = faults::misbehave(&mode, false).await {
        return response;
    }
    let inputs: Vec<String> = match &request["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(|v| v.to_string()).collect(),
        _ => return (StatusCode::BAD_REQUEST, "bad input").into_response(),
    };
    let base64 = request["encoding_format"].as_str() == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let vector: Vec<f32> = (0..EMBEDDING_DIM)
                .map(|d| ((text.len() + d * 7 + i) % 10) as f32 / 10.0)
                .collect();
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let response = axum::Json(
        json!({"object": "list", "data": data, "model": request["model"],
        "usage": {"prompt_tokens": inputs.len() * 2, "total_tokens": inputs.len() * 2}}),
    )
    .into_response();
    faults::shape(&shared, &mode, response).await
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    record(&shared, "/v1/models", &headers, &Bytes::new());
    let mode = faults::next_mode(&shared);
    if let Some(response) = faults::misbehave(&mode, false).await {
        return response;
    }
    let response = axum::Json(json!({"object": "list", "data": [
        {"id": "upstream-model", "object": "model", "created": 0, "owned_by": "fake"}]}))
    .into_response();
    faults::shape(&shared, &mode, response).await
}

/// The fake's transcript text.
pub const TRANSCRIPT: &str = "Ever tried. Ever failed.";

/// Answers `verbose_json` for a 16-bit mono WAV upload, recording the form fields (and the
/// file's WAV header facts) as the request body.
async fn transcribe(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let mut fields = serde_json::Map::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let bytes = field.bytes().await.unwrap_or_default();
            let rate = bytes
                .get(24..28)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let channels = bytes
                .get(22..24)
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
            fields.insert("file_bytes".into(), json!(bytes.len()));
            fields.insert("file_sample_rate".into(), json!(rate));
            fields.insert("file_channels".into(), json!(channels));
        } else {
            fields.insert(name, json!(field.text().await.unwrap_or_default()));
        }
    }
    let body = Value::Object(fields);
    let bytes = Bytes::from(body.to_string());
    record(&shared, "/v1/audio/transcriptions", &headers, &bytes);
    let mode = faults::next_mode(&shared);
    if let Some(response) = faults::misbehave(&mode, false).await {
        return response;
    }
    let samples = body["file_bytes"].as_u64().unwrap_or(44).saturating_sub(44) / 2;
    let rate = body["file_sample_rate"].as_u64().unwrap_or(16_000).max(1);
    let duration = samples as f64 / rate as f64;
    // Segments as OpenAI's whisper-1 writes them, with the decoder's details.
    let segment = |id: u32, start: f64, end: f64, text: &str, tokens: Value| {
        json!({"id": id, "seek": 0, "start": start, "end": end, "text": text,
            "tokens": tokens, "temperature": 0.0, "avg_logprob": -0.21,
            "compression_ratio": 0.79, "no_speech_prob": 0.004})
    };
    let segments = [
        segment(
            0,
            0.0,
            duration / 2.0,
            " Ever tried.",
            json!([50364, 12123, 3031, 13]),
        ),
        segment(
            1,
            duration / 2.0,
            duration,
            " Ever failed.",
            json!([12123, 7612, 13, 50414]),
        ),
    ];
    let response = axum::Json(json!({"task": "transcribe", "language": "english",
        "duration": duration, "text": TRANSCRIPT, "segments": segments}))
    .into_response();
    faults::shape(&shared, &mode, response).await
}
