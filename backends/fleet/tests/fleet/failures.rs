//! Workers that die, answer late, get cancelled or shut down.

use crate::helpers::*;
use futures::StreamExt;
use omnigate_backend::echo::EchoBackend;
use omnigate_backend::{Backend, BackendError};
use omnigate_backend_fleet::FleetWatch;
use omnigate_backend_fleet::protocol::FrameKind;
use omnigate_testkit::NatsServer;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_request_fails_the_try_and_another_worker_answers() {
    let server = NatsServer::start();
    let watch = FleetWatch::start(nats(&server.url()), "og".into())
        .await
        .unwrap();
    let (gated, mut gate) = gated();
    let w1 = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 1),
        vec![serving("m", gated)],
    );
    let per_try = Duration::from_secs(1);
    let backend = Arc::new(backend(&server.url(), "og", "m", per_try).await);
    healthy(&backend).await;
    let started = Instant::now();
    let first = tokio::spawn({
        let backend = backend.clone();
        async move { backend.chat(hello("m", "hello")).await }
    });
    assert_eq!(gate.entered().await, "hello");
    // A second worker joins; the first dies holding the request.
    let _w2 = Worker::spawn(
        worker_settings(&server.url(), "og", "w2", 1),
        vec![serving("m", EchoBackend::new())],
    );
    seen(&watch, |w| w.id == "w2").await;
    w1.kill().await;
    let err = within(first).await.unwrap().unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, BackendError::Timeout(t) if t == per_try),
        "{err:?}"
    );
    assert!(
        elapsed >= per_try && elapsed < per_try + Duration::from_secs(2),
        "{elapsed:?}"
    );
    // The router's next try lands on the worker that is left.
    let answer = backend.chat(hello("m", "hello")).await.unwrap();
    assert_eq!(text_of(answer), "echo: hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_after_a_retry_reaches_no_one() {
    let server = NatsServer::start();
    let watch = FleetWatch::start(nats(&server.url()), "og".into())
        .await
        .unwrap();
    // A slow worker that ignores cancellation, written with raw NATS.
    let mut slow = RawWorker::join(&server.url(), "og", "m", true).await;
    let backend = Arc::new(backend(&server.url(), "og", "m", Duration::from_millis(500)).await);
    connected(&backend).await;
    let first = tokio::spawn({
        let backend = backend.clone();
        async move { backend.chat(hello("m", "first")).await }
    });
    let offer = slow.offer().await;
    let taken = FrameKind::Taken {
        control: "_INBOX.slow-control".into(),
    };
    slow.frame(&offer.reply, &offer.reply, 0, taken, &[]).await;
    // It leaves the queue group, so the retry goes elsewhere.
    slow.leave().await;
    let err = within(first).await.unwrap().unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err:?}");
    let (gated, mut gate) = gated();
    let _good = Worker::spawn(
        worker_settings(&server.url(), "og", "good", 4),
        vec![serving("m", gated)],
    );
    seen(&watch, |w| w.id == "good").await;
    // The retry, and a further request in flight when the late answer is sent.
    let retry = tokio::spawn({
        let backend = backend.clone();
        async move { backend.chat(hello("m", "retry")).await }
    });
    assert_eq!(gate.entered().await, "retry");
    let late = RawWorker::join(&server.url(), "og", "unused", false).await;
    let answer = completion_json("late answer to first");
    late.frame(
        &offer.reply,
        &offer.reply,
        1,
        FrameKind::Part,
        answer.as_bytes(),
    )
    .await;
    late.frame(&offer.reply, &offer.reply, 2, FrameKind::End, &[])
        .await;
    gate.open(1);
    assert_eq!(
        text_of(within(retry).await.unwrap().unwrap()),
        "echo: retry"
    );
    gate.open(1);
    let next = backend.chat(hello("m", "next")).await.unwrap();
    assert_eq!(text_of(next), "echo: next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_stops_the_work_on_the_worker() {
    let server = NatsServer::start();
    let watch = FleetWatch::start(nats(&server.url()), "og".into())
        .await
        .unwrap();
    let (gated, mut gate) = gated();
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 2),
        vec![serving("m", gated)],
    );
    let backend = backend(&server.url(), "og", "m", Duration::from_secs(5)).await;
    healthy(&backend).await;
    let mut stream = backend.chat_stream(hello("m", "a b c d")).await.unwrap();
    assert_eq!(gate.entered().await, "a b c d");
    assert!(stream.next().await.unwrap().is_ok());
    seen(&watch, |w| w.in_flight == 1).await;
    // The worker is held inside the stream; dropping it must free the slot without the gate.
    drop(stream);
    let status = seen(&watch, |w| w.in_flight == 0 && w.served == 1).await;
    assert_eq!(status.id, "w1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_finishes_the_work_in_flight_and_takes_no_more() {
    let server = NatsServer::start();
    let watch = FleetWatch::start(nats(&server.url()), "og".into())
        .await
        .unwrap();
    let (gated, mut gate) = gated();
    let mut worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 4),
        vec![serving("m", gated)],
    );
    let backend = Arc::new(backend(&server.url(), "og", "m", Duration::from_secs(10)).await);
    healthy(&backend).await;
    let unary = tokio::spawn({
        let backend = backend.clone();
        async move { backend.chat(hello("m", "unary")).await }
    });
    assert_eq!(gate.entered().await, "unary");
    let mut stream = backend
        .chat_stream(hello("m", "one two three"))
        .await
        .unwrap();
    assert_eq!(gate.entered().await, "one two three");
    let first = stream.next().await.unwrap().unwrap();
    worker.shut_down();
    seen(&watch, |w| w.draining && w.in_flight == 2).await;
    // Draining: new work finds no one.
    let err = backend.chat(hello("m", "late")).await.unwrap_err();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");
    assert!(backend.health().await.is_err());
    // The work in flight is finished and answered.
    gate.open(2);
    assert_eq!(
        text_of(within(unary).await.unwrap().unwrap()),
        "echo: unary"
    );
    let mut text = first.into_built().unwrap().choices[0]
        .delta
        .content
        .clone()
        .unwrap();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap().into_built().unwrap();
        if let Some(content) = chunk.choices.first().and_then(|c| c.delta.content.clone()) {
            text.push_str(&content);
        }
    }
    assert_eq!(text, "echo: one two three");
    worker.finished().await.unwrap();
    let last = seen(&watch, |w| w.served == 2).await;
    assert!(last.draining && last.in_flight == 0, "{last:?}");
}

/// A backend with a bug.
struct Panics;

#[async_trait::async_trait]
impl Backend for Panics {
    fn name(&self) -> &str {
        "panics"
    }

    fn capabilities(&self) -> omnigate_backend::Capabilities {
        echo_caps()
    }

    async fn health(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn chat(
        &self,
        _: omnigate_backend::ChatRequest,
    ) -> Result<omnigate_backend::Answer<omnigate_backend::ChatResponse>, BackendError> {
        panic!("a bug in the model");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_backend_is_an_internal_error_at_once_and_frees_its_slot() {
    let server = NatsServer::start();
    let watch = FleetWatch::start(nats(&server.url()), "og".into())
        .await
        .unwrap();
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 1),
        vec![serving("m", Panics)],
    );
    let backend = backend(&server.url(), "og", "m", Duration::from_secs(30)).await;
    healthy(&backend).await;
    for served in 1..=2 {
        let started = Instant::now();
        let err = backend.chat(hello("m", "boom")).await.unwrap_err();
        assert!(
            matches!(&err, BackendError::Internal(m) if m.contains("panicked")),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        // Its one slot is free again (and so it is subscribed again) once its heartbeat says so.
        seen(&watch, |w| w.served == served && w.in_flight == 0).await;
    }
}
