//! Workers that misbehave, written with raw async-nats: malformed, oversized, misnumbered or
//! misaddressed frames fail their own request with a `BackendError` and nothing else.

use crate::helpers::*;
use bytes::Bytes;
use futures::StreamExt;
use omnigate_backend::{Backend, BackendError};
use omnigate_backend_fleet::protocol::{self, FrameKind, WireError};
use omnigate_testkit::NatsServer;
use std::sync::Arc;
use std::time::Duration;

type Script = Box<dyn Fn(&RawWorker, Offer) -> futures::future::BoxFuture<'_, ()> + Send + Sync>;

fn script<F>(f: F) -> Script
where
    F: for<'a> Fn(&'a RawWorker, Offer) -> futures::future::BoxFuture<'a, ()>
        + Send
        + Sync
        + 'static,
{
    Box::new(f)
}

/// Sends `Taken`, then `frames` (kind, data) numbered from 1.
async fn answer(worker: &RawWorker, offer: &Offer, frames: Vec<(FrameKind, Vec<u8>)>) {
    let taken = FrameKind::Taken {
        control: "_INBOX.hostile-control".into(),
    };
    worker
        .frame(&offer.reply, &offer.reply, 0, taken, &[])
        .await;
    for (seq, (kind, data)) in (1..).zip(frames) {
        worker
            .frame(&offer.reply, &offer.reply, seq, kind, &data)
            .await;
    }
}

fn part(text: &str) -> (FrameKind, Vec<u8>) {
    (FrameKind::Part, text.as_bytes().to_vec())
}

fn end() -> (FrameKind, Vec<u8>) {
    (FrameKind::End, Vec::new())
}

fn error(kind: &str, status: Option<u16>) -> (FrameKind, Vec<u8>) {
    let wire = WireError {
        kind: kind.into(),
        message: "from the worker".into(),
        status,
        param: None,
        retry_after_ms: None,
        task: None,
    };
    (FrameKind::Error(wire), Vec::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unary_answers_fail_their_request_only() {
    let server = NatsServer::start();
    let mut evil = RawWorker::join(&server.url(), "og", "evil", true).await;
    let backend = backend(&server.url(), "og", "evil", Duration::from_secs(2)).await;
    connected(&backend).await;
    type Check = fn(&BackendError) -> bool;
    let bad: Check = |e| matches!(e, BackendError::BadResponse(_));
    let cases: Vec<(&str, Script, Check)> = vec![
        (
            "not JSON",
            script(|w, o| {
                Box::pin(async move { answer(w, &o, vec![part("{not json"), end()]).await })
            }),
            bad,
        ),
        (
            "JSON of the wrong object",
            script(|w, o| {
                Box::pin(async move {
                    answer(w, &o, vec![part(r#"{"model":"m","data":[]}"#), end()]).await;
                })
            }),
            bad,
        ),
        (
            "not a protocol message",
            script(|w, o| {
                Box::pin(async move { w.raw(&o.reply, Bytes::from_static(b"hello")).await })
            }),
            bad,
        ),
        (
            "a newer protocol",
            script(|w, o| {
                Box::pin(async move {
                    let head = protocol::FrameHead {
                        id: o.reply.clone(),
                        seq: 0,
                        kind: FrameKind::End,
                    };
                    let mut newer = protocol::encode(&head, &[]).to_vec();
                    newer[0] = 2;
                    w.raw(&o.reply, newer.into()).await;
                })
            }),
            |e| matches!(e, BackendError::BadResponse(m) if m.contains("v2")),
        ),
        (
            "a stream frame in a unary answer",
            script(|w, o| {
                Box::pin(async move { answer(w, &o, vec![(FrameKind::Started, vec![])]).await })
            }),
            bad,
        ),
        (
            "no Taken first",
            script(|w, o| {
                Box::pin(async move {
                    w.frame(&o.reply, &o.reply, 0, FrameKind::Part, b"{}").await;
                })
            }),
            bad,
        ),
        (
            "a gap in the numbering",
            script(|w, o| {
                Box::pin(async move {
                    answer(w, &o, vec![]).await;
                    w.frame(&o.reply, &o.reply, 2, FrameKind::End, &[]).await;
                })
            }),
            bad,
        ),
        (
            "more than 64 MiB",
            script(|w, o| {
                Box::pin(async move {
                    let big = vec![b' '; 1_040_000];
                    let parts = (0..65).map(|_| (FrameKind::Part, big.clone())).collect();
                    answer(w, &o, parts).await;
                })
            }),
            |e| matches!(e, BackendError::BadResponse(m) if m.contains("64 MiB")),
        ),
        (
            "an error of a kind this gateway does not know",
            script(|w, o| {
                Box::pin(async move { answer(w, &o, vec![error("quantum", None)]).await })
            }),
            |e| matches!(e, BackendError::Upstream { status: 500, .. }),
        ),
        (
            "the client's fault",
            script(|w, o| {
                Box::pin(async move { answer(w, &o, vec![error("rejected", Some(422))]).await })
            }),
            |e| matches!(e, BackendError::Rejected { status: 422, .. }),
        ),
    ];
    for (name, script, check) in cases {
        let (result, ()) = tokio::join!(backend.chat(hello("evil", name)), async {
            let offer = evil.offer().await;
            script(&evil, offer).await;
        });
        let err = result.err().unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(check(&err), "{name}: {err:?}");
    }
    // A valid answer still goes through the same backend.
    let (result, ()) = tokio::join!(backend.chat(hello("evil", "fine")), async {
        let offer = evil.offer().await;
        assert_eq!(offer.head.call, protocol::Call::Chat);
        assert!(offer.head.upload.is_none() && !offer.body.is_empty());
        let text = completion_json("fine");
        answer(
            &evil,
            &offer,
            vec![part(&text[..10]), part(&text[10..]), end()],
        )
        .await;
    });
    assert_eq!(text_of(result.unwrap()), "fine");
}

/// Runs a stream against a scripted worker; returns what the stream yielded (`Ok` items as
/// their text).
async fn stream_against(
    backend: &omnigate_backend_fleet::FleetBackend,
    evil: &mut RawWorker,
    items: Vec<(u64, Vec<u8>)>,
) -> Vec<Result<String, BackendError>> {
    let (stream, ()) = tokio::join!(backend.chat_stream(hello("evil", "s")), async {
        let offer = evil.offer().await;
        answer(evil, &offer, vec![(FrameKind::Started, vec![])]).await;
        for (seq, data) in items {
            evil.frame(&offer.reply, &offer.reply, seq, FrameKind::Item, &data)
                .await;
        }
    });
    stream
        .unwrap()
        .map(|item| {
            item.map(|a| match a {
                omnigate_backend::Answer::Relayed(json) => {
                    String::from_utf8(json.text().to_vec()).unwrap()
                }
                omnigate_backend::Answer::Built(_) => panic!("fleet answers are relayed"),
            })
        })
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misnumbered_or_broken_stream_items_end_the_stream_with_an_error() {
    let server = NatsServer::start();
    let mut evil = RawWorker::join(&server.url(), "og", "evil", true).await;
    let backend = backend(&server.url(), "og", "evil", Duration::from_secs(2)).await;
    connected(&backend).await;
    let chunk = chunk_json("hi").into_bytes();
    for (name, items) in [
        ("gap", vec![(2, chunk.clone()), (4, chunk.clone())]),
        ("duplicate", vec![(2, chunk.clone()), (2, chunk.clone())]),
        (
            "out of order",
            vec![(2, chunk.clone()), (4, chunk.clone()), (3, chunk.clone())],
        ),
        ("not JSON", vec![(2, chunk.clone()), (3, b"{oops".to_vec())]),
    ] {
        let got = stream_against(&backend, &mut evil, items).await;
        assert_eq!(got.len(), 2, "{name}: {got:?}");
        assert_eq!(
            got[0].as_deref().ok(),
            Some(chunk_json("hi").as_str()),
            "{name}"
        );
        assert!(
            matches!(got[1], Err(BackendError::BadResponse(_))),
            "{name}: {got:?}"
        );
    }
    // A worker that stops sending: the stream ends with a timeout, not a hang.
    let got = stream_against(&backend, &mut evil, vec![(2, chunk.clone())]).await;
    assert!(
        matches!(got[..], [Ok(_), Err(BackendError::Timeout(_))]),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_stream_item_is_refused() {
    // A server allowing 4 MB messages, so that a worker can send more than the item limit.
    let config = std::env::temp_dir().join(format!("fleet-nats-{}.conf", std::process::id()));
    std::fs::write(&config, "max_payload: 4194304\n").unwrap();
    let server = NatsServer::start_with(&["-c", config.to_str().unwrap()]);
    let mut evil = RawWorker::join(&server.url(), "og", "evil", true).await;
    let backend = backend(&server.url(), "og", "evil", Duration::from_secs(2)).await;
    connected(&backend).await;
    let huge = chunk_json(&"x".repeat(1_500_000)).into_bytes();
    let got = stream_against(&backend, &mut evil, vec![(2, huge)]).await;
    assert!(
        matches!(&got[..], [Err(BackendError::BadResponse(m))] if m.contains("stream item")),
        "{got:?}"
    );
    let _ = std::fs::remove_file(config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_to_another_requests_inbox_are_ignored_there() {
    let server = NatsServer::start();
    let (gated, mut gate) = gated();
    let _good = Worker::spawn(
        worker_settings(&server.url(), "og", "good", 4),
        vec![serving("good", gated)],
    );
    let mut evil = RawWorker::join(&server.url(), "og", "evil", true).await;
    // The hostile side also sees every request for "good" (NATS permissions would stop this).
    let mut snoop = RawWorker::join(&server.url(), "og", "good", false).await;
    let good_backend = Arc::new(backend(&server.url(), "og", "good", Duration::from_secs(5)).await);
    let evil_backend = Arc::new(backend(&server.url(), "og", "evil", Duration::from_secs(1)).await);
    healthy(&good_backend).await;
    let good = tokio::spawn({
        let backend = good_backend.clone();
        async move { backend.chat(hello("good", "mine")).await }
    });
    let good_offer = snoop.offer().await;
    assert_eq!(gate.entered().await, "mine");
    let hostile = tokio::spawn({
        let backend = evil_backend.clone();
        async move { backend.chat(hello("evil", "theirs")).await }
    });
    let evil_offer = evil.offer().await;
    // The answer to the hostile request, all of it sent to the good request's inbox.
    let text = completion_json("hijacked");
    let frames = [
        (
            FrameKind::Taken {
                control: "_INBOX.x".into(),
            },
            Vec::new(),
        ),
        (FrameKind::Part, text.into_bytes()),
        (FrameKind::End, Vec::new()),
    ];
    for (seq, (kind, data)) in (0..).zip(frames) {
        evil.frame(&good_offer.reply, &evil_offer.reply, seq, kind, &data)
            .await;
    }
    gate.open(1);
    assert_eq!(text_of(within(good).await.unwrap().unwrap()), "echo: mine");
    let err = within(hostile).await.unwrap().unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err:?}");
    // And the gateway carries on.
    gate.open(1);
    let again = good_backend.chat(hello("good", "again")).await.unwrap();
    assert_eq!(text_of(again), "echo: again");
    assert!(good_backend.health().await.is_ok());
}
