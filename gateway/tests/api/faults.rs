//! The fault matrix: every fault the testkit can script, on chat, streamed chat, embeddings and
//! transcription, over real HTTP. With a healthy deployment beside the broken one the client
//! sees nothing but answers; with none left it gets a clear OpenAI error, with the status that
//! says what went wrong, inside the deadline.
//!
//! The broken deployment is a [`FakeUpstream`] behind a [`FaultProxy`], so faults below HTTP
//! (refused, reset connections) and above it (statuses, hangs, bad bodies) sit on one address.
//! Each case starts its own gateway, whose round-robin sends its first request to deployment 0,
//! the broken one: every case exercises its fault, and `x-omnigate-attempts` proves it.
//! No test waits on a timer racing the server: hangs are abandoned by the gateway's own per-try
//! timeout, and mid-stream resets happen only after the client holds the first event.

use crate::audio::{form, post, wav};
use crate::common::{Gateway, expect_error};
use futures::StreamExt;
use omnigate_testkit::{FakeUpstream, FaultProxy, Mode};
use serde_json::json;
use std::time::{Duration, Instant};

/// Per-try timeout of every case: how long a hang costs before the next try.
const PER_TRY_SECS: f64 = 0.4;
/// The deployments' own timeout, which bounds the wait for each event of a stream that began.
const STREAM_IDLE_SECS: f64 = 1.0;
/// The whole request's deadline when no deployment is healthy.
const DEADLINE_SECS: f64 = 1.5;

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Nothing listens on the deployment's port.
    Refused,
    /// An OpenAI-style error with this status.
    Status(u16),
    /// 429 with `retry-after`.
    RateLimited,
    /// The connection is accepted and never answered.
    HangBeforeHeaders,
    /// The head and part of the body, then nothing.
    HangMidBody,
    /// The request goes through; the connection is reset before any byte of the answer.
    ResetBeforeFirstByte,
    /// The head and a little of the body, then a reset.
    ResetMidBody,
    /// One byte a second.
    Trickle,
    /// 200 with JSON cut off mid-document (or an SSE event that is not JSON).
    Malformed,
}

#[derive(Debug, Clone, Copy)]
enum Call {
    Chat,
    Stream,
    Embeddings,
    Transcription,
}

const CALLS: [Call; 4] = [
    Call::Chat,
    Call::Stream,
    Call::Embeddings,
    Call::Transcription,
];

/// A deployment that misbehaves on command.
struct Broken {
    upstream: FakeUpstream,
    proxy: FaultProxy,
}

impl Broken {
    async fn start() -> Self {
        let upstream = FakeUpstream::start().await;
        let proxy = FaultProxy::start(upstream.addr()).await;
        Self { upstream, proxy }
    }

    async fn inject(&self, fault: Fault) {
        match fault {
            Fault::Refused => self.proxy.refuse().await,
            Fault::Status(status) => self.upstream.set_mode(Mode::Fail(status)),
            Fault::RateLimited => self.upstream.set_mode(Mode::FailWithRetryAfter {
                status: 429,
                retry_after_secs: 30,
            }),
            Fault::HangBeforeHeaders => self.proxy.blackhole(),
            Fault::HangMidBody => self.upstream.set_mode(Mode::HangMidBody),
            Fault::ResetBeforeFirstByte => self.proxy.reset_after_bytes(0),
            // Past every answer's head (about 120 bytes), short of every body's end.
            Fault::ResetMidBody => self.proxy.reset_after_bytes(150),
            Fault::Trickle => self
                .upstream
                .set_mode(Mode::Trickle(Duration::from_secs(1))),
            Fault::Malformed => self.upstream.set_mode(Mode::Malformed),
        }
    }
}

/// One model `m` over `urls`, taken in turn, with short timeouts and no ejection (so that every
/// request of a case meets the fault).
async fn gateway_over(urls: &[String]) -> Gateway {
    let mut toml = format!(
        r#"
[server]
bind = "127.0.0.1:0"
readiness_timeout_secs = 0.5

[models.m]
tasks = ["chat", "embeddings", "transcription"]
routing = {{ strategy = "round_robin", max_attempts = 3, per_try_timeout_secs = {PER_TRY_SECS}, deadline_secs = {DEADLINE_SECS}, consecutive_failures = 1000, failure_rate = 1.0, backoff_base_ms = 10.0 }}
"#
    );
    for url in urls {
        toml.push_str(&format!(
            "[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"{url}\"\ntimeout_secs = {STREAM_IDLE_SECS}\n"
        ));
    }
    Gateway::from_toml(&toml).await
}

async fn send(gateway: &Gateway, call: Call) -> reqwest::Response {
    let chat = |stream: bool| json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "Hi"}]});
    match call {
        Call::Chat => gateway.post_json("/v1/chat/completions", chat(false)).await,
        Call::Stream => gateway.post_json("/v1/chat/completions", chat(true)).await,
        Call::Embeddings => {
            gateway
                .post_json("/v1/embeddings", json!({"model": "m", "input": "x"}))
                .await
        }
        Call::Transcription => {
            post(
                gateway,
                "/v1/audio/transcriptions",
                form("m", None, wav(16_000, 1)),
            )
            .await
        }
    }
}

/// Asserts a whole, well-formed answer to `call`.
async fn expect_answer(response: reqwest::Response, call: Call, case: &str) {
    assert_eq!(response.status(), 200, "{case}");
    let text = response.text().await.unwrap();
    match call {
        Call::Stream => {
            assert!(text.contains("chat.completion.chunk"), "{case}: {text}");
            assert!(text.ends_with("data: [DONE]\n\n"), "{case}: {text}");
            assert!(!text.contains("\"error\""), "{case}: {text}");
        }
        Call::Chat => assert!(text.contains("\"chat.completion\""), "{case}: {text}"),
        Call::Embeddings => assert!(text.contains("\"embedding\""), "{case}: {text}"),
        Call::Transcription => assert!(text.contains("Ever tried"), "{case}: {text}"),
    }
}

fn attempts(response: &reqwest::Response) -> u32 {
    response
        .headers()
        .get("x-omnigate-attempts")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// With a healthy deployment beside the broken one, every call is answered, after one failed
/// try on the broken one.
async fn survives(fault: Fault) {
    for call in CALLS {
        let case = format!("{fault:?} on {call:?}");
        let broken = Broken::start().await;
        let healthy = FakeUpstream::start().await;
        broken.inject(fault).await;
        let gateway = gateway_over(&[broken.proxy.base_url(), healthy.base_url()]).await;
        let response = send(&gateway, call).await;
        if begins_stream(fault, call) {
            expect_cut_stream(response, &case).await;
            continue;
        }
        assert_eq!(
            attempts(&response),
            2,
            "{case}: the broken one is tried first"
        );
        assert_eq!(
            response.headers()["x-omnigate-deployment"],
            "1",
            "{case}: served by the healthy one"
        );
        expect_answer(response, call, &case).await;
    }
}

/// With no healthy deployment left, every call gets `status` and an OpenAI error inside the
/// deadline.
async fn fails_clearly(fault: Fault, status: u16) {
    for call in CALLS {
        let case = format!("{fault:?} on {call:?} with nothing healthy");
        let broken = Broken::start().await;
        broken.inject(fault).await;
        let gateway = gateway_over(&[broken.proxy.base_url()]).await;
        let started = Instant::now();
        let response = send(&gateway, call).await;
        if begins_stream(fault, call) {
            expect_cut_stream(response, &case).await;
            continue;
        }
        assert_eq!(response.status(), status, "{case}");
        expect_error(response, status).await;
        assert!(
            started.elapsed() < Duration::from_secs_f64(DEADLINE_SECS + 1.5),
            "{case}: took {:?}",
            started.elapsed()
        );
    }
}

/// Whether `fault` lets a stream begin: its first event reaches the client, and what follows
/// cannot be retried.
fn begins_stream(fault: Fault, call: Call) -> bool {
    matches!((fault, call), (Fault::HangMidBody, Call::Stream))
}

/// A stream that began and then broke: the first event, then an OpenAI-style error event
/// within the deployment's idle timeout, and no `[DONE]`.
async fn expect_cut_stream(response: reqwest::Response, case: &str) {
    let started = Instant::now();
    assert_eq!(response.status(), 200, "{case}");
    assert_eq!(
        attempts(&response),
        1,
        "{case}: a stream that began is not retried"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("chat.completion.chunk"), "{case}: {text}");
    assert!(text.contains("\"error\""), "{case}: an error event: {text}");
    assert!(
        !text.contains("[DONE]"),
        "{case}: no [DONE] after a cut: {text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs_f64(STREAM_IDLE_SECS + 1.5),
        "{case}: took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn refused_connections() {
    survives(Fault::Refused).await;
    // As Envoy answers: the upstream could not be reached at all, so it is unavailable (503);
    // 502 is kept for an upstream that answered badly.
    fails_clearly(Fault::Refused, 503).await;
}

#[tokio::test]
async fn upstream_5xx() {
    for status in [500, 502, 503] {
        survives(Fault::Status(status)).await;
    }
    fails_clearly(Fault::Status(500), 502).await;
    fails_clearly(Fault::Status(503), 503).await;
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    survives(Fault::RateLimited).await;
    fails_clearly(Fault::RateLimited, 429).await;
}

#[tokio::test]
async fn hang_before_headers() {
    survives(Fault::HangBeforeHeaders).await;
    fails_clearly(Fault::HangBeforeHeaders, 504).await;
}

#[tokio::test]
async fn hang_mid_body() {
    survives(Fault::HangMidBody).await;
    fails_clearly(Fault::HangMidBody, 504).await;
}

#[tokio::test]
async fn reset_before_the_first_byte() {
    survives(Fault::ResetBeforeFirstByte).await;
    fails_clearly(Fault::ResetBeforeFirstByte, 503).await;
}

#[tokio::test]
async fn reset_mid_body() {
    survives(Fault::ResetMidBody).await;
    fails_clearly(Fault::ResetMidBody, 502).await;
}

#[tokio::test]
async fn trickle() {
    survives(Fault::Trickle).await;
    fails_clearly(Fault::Trickle, 504).await;
}

#[tokio::test]
async fn malformed_answers() {
    survives(Fault::Malformed).await;
    fails_clearly(Fault::Malformed, 502).await;
}

/// A stream that has begun cannot be retried: when its deployment dies mid-way the client gets
/// an OpenAI-style error event and no `[DONE]`, so it cannot mistake the cut for a whole answer.
#[tokio::test]
async fn a_stream_cut_after_its_first_event_ends_with_an_error_event() {
    let broken = Broken::start().await;
    broken.upstream.hold_streams_after(1);
    let gateway = gateway_over(&[broken.proxy.base_url()]).await;
    let response = send(&gateway, Call::Stream).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while !text.contains("chat.completion.chunk") {
        let chunk = body.next().await.expect("a first event").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    broken.proxy.kill_live();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(text.contains("\"error\""), "an error event: {text}");
    assert!(!text.contains("[DONE]"), "no [DONE] after a cut: {text}");
}

/// A deployment that refused connections and was ejected comes back once it listens again on
/// the same port: the half-open trial after the ejection lets it back into rotation.
#[tokio::test]
async fn a_refusing_deployment_that_recovers_is_taken_back() {
    let broken = Broken::start().await;
    let healthy = FakeUpstream::start().await;
    let toml = format!(
        r#"
[server]
bind = "127.0.0.1:0"

[models.m]
routing = {{ strategy = "round_robin", consecutive_failures = 1, base_ejection_secs = 0.2, max_ejection_secs = 0.2 }}
[[models.m.deployments]]
kind = "openai"
base_url = "{}"
[[models.m.deployments]]
kind = "openai"
base_url = "{}"
"#,
        broken.proxy.base_url(),
        healthy.base_url()
    );
    let gateway = Gateway::from_toml(&toml).await;
    broken.proxy.refuse().await;
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]});
    for _ in 0..4 {
        let response = gateway
            .post_json("/v1/chat/completions", chat.clone())
            .await;
        assert_eq!(response.status(), 200);
    }
    let view: serde_json::Value = gateway.get("/v1/deployments").await.json().await.unwrap();
    assert_eq!(view["data"][0]["state"], "ejected", "{view}");
    broken.proxy.recover().await;
    // Requests keep coming; once the ejection has run out, one of them is the trial, and from
    // then on the recovered deployment takes its turn again.
    let give_up = Instant::now() + Duration::from_secs(10);
    while broken.upstream.request_count() < 3 {
        assert!(Instant::now() < give_up, "never taken back");
        let response = gateway
            .post_json("/v1/chat/completions", chat.clone())
            .await;
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let view: serde_json::Value = gateway.get("/v1/deployments").await.json().await.unwrap();
    assert_eq!(view["data"][0]["state"], "healthy", "{view}");
}
