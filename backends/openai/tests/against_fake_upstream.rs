//! The OpenAI-compatible backend against a real HTTP upstream (the testkit's fake): the shared
//! conformance suite, error mapping, timeouts and stream cancellation.
#![allow(clippy::unwrap_used, reason = "tests")]

use futures::StreamExt;
use omnigate_backend::{
    Backend, BackendError, Capabilities, ChatRequest, Message, Modality, Role, Task,
};
use omnigate_backend_openai::{OpenAiBackend, OpenAiSettings};
use omnigate_testkit::{FakeUpstream, Mode};
use std::time::Duration;

fn backend(upstream: &FakeUpstream, timeout: Duration) -> OpenAiBackend {
    OpenAiBackend::new(OpenAiSettings {
        base_url: upstream.base_url().parse().unwrap(),
        api_key: Some("sk-upstream".into()),
        health_path: None,
        timeout,
        connect_timeout: Duration::from_secs(2),
        capabilities: Capabilities {
            tasks: [Task::Chat, Task::Embeddings, Task::Transcription]
                .into_iter()
                .collect(),
            modalities: [Modality::Text].into_iter().collect(),
        },
    })
    .unwrap()
}

fn hello(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![Message::text(Role::User, "hello")],
        params: Default::default(),
    }
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let upstream = FakeUpstream::start().await;
    let backend = backend(&upstream, Duration::from_secs(5));
    omnigate_backend::conformance::check(&backend, "upstream-model")
        .await
        .unwrap();
    let recorded = upstream.last_request();
    assert_eq!(
        recorded.authorization.as_deref(),
        Some("Bearer sk-upstream")
    );
}

#[tokio::test]
async fn upstream_statuses_map_to_typed_errors() {
    let upstream = FakeUpstream::start().await;
    let backend = backend(&upstream, Duration::from_secs(5));
    type Check = fn(&BackendError) -> bool;
    let cases: [(u16, Check); 5] = [
        (
            400,
            |e| matches!(e, BackendError::Rejected { status: 400, param: Some(p), .. } if p == "messages"),
        ),
        (401, |e| {
            matches!(e, BackendError::Upstream { status: 401, .. })
        }),
        (429, |e| matches!(e, BackendError::Overloaded(_))),
        (500, |e| {
            matches!(e, BackendError::Upstream { status: 500, .. })
        }),
        (503, |e| matches!(e, BackendError::Unavailable(_))),
    ];
    for (status, expected) in cases {
        upstream.set_mode(Mode::Fail(status));
        let err = backend.chat(hello("m")).await.unwrap_err();
        assert!(expected(&err), "{status}: got {err:?}");
        let err = backend.chat_stream(hello("m")).await.err().unwrap();
        assert!(expected(&err), "{status} (stream): got {err:?}");
    }
    upstream.set_mode(Mode::Garbage);
    let err = backend.chat(hello("m")).await.unwrap_err();
    assert!(matches!(err, BackendError::BadResponse(_)), "{err:?}");
}

#[tokio::test]
async fn slow_upstream_times_out() {
    let upstream = FakeUpstream::start().await;
    let backend = backend(&upstream, Duration::from_millis(200));
    upstream.set_mode(Mode::Hang);
    let err = backend.chat(hello("m")).await.unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err:?}");
    let err = backend.chat_stream(hello("m")).await.err().unwrap();
    assert!(matches!(err, BackendError::Timeout(_)), "{err:?}");
    let err = backend.health().await.unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn stalled_stream_times_out_between_events() {
    let upstream = FakeUpstream::start().await;
    let backend = backend(&upstream, Duration::from_millis(300));
    upstream.hold_streams_after(1);
    let mut stream = backend.chat_stream(hello("m")).await.unwrap();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    assert!(
        matches!(last, Some(Err(BackendError::Timeout(_)))),
        "{last:?}"
    );
}

#[tokio::test]
async fn refused_connection_is_unavailable() {
    let upstream = FakeUpstream::start().await;
    let backend = backend(&upstream, Duration::from_secs(2));
    upstream.stop().await;
    let err = backend.chat(hello("m")).await.unwrap_err();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");
    assert!(backend.health().await.is_err());
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_upstream_request() {
    let upstream = FakeUpstream::start().await;
    let backend = backend(&upstream, Duration::from_secs(5));
    upstream.hold_streams_after(2);
    let mut stream = backend.chat_stream(hello("m")).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    drop(stream);
    assert!(upstream.wait_for_cancel(Duration::from_secs(5)).await);
    assert_eq!(upstream.streams_completed(), 0);
}
