//! The happy paths: conformance, streaming chunk by chunk, media, the fleet view.

use crate::helpers::*;
use futures::StreamExt;
use omnigate_backend::echo::{EchoBackend, echo_text};
use omnigate_backend::{
    Answer, Audio, Backend, BackendError, ChatRequest, ContentPart, ImageData, ImagePart,
    ImageTensor, Message, MessageContent, Role, Task,
};
use omnigate_backend_fleet::FleetWatch;
use omnigate_testkit::NatsServer;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_echo_workers_passes_the_conformance_suite() {
    let server = NatsServer::start();
    let w1 = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 4),
        vec![serving("echo-model", EchoBackend::new())],
    );
    let w2 = Worker::spawn(
        worker_settings(&server.url(), "og", "w2", 4),
        vec![serving("echo-model", EchoBackend::new())],
    );
    let backend = backend(&server.url(), "og", "echo-model", Duration::from_secs(5)).await;
    assert_eq!(
        backend.name(),
        format!("fleet({}, og.echo-model)", server.url())
    );
    healthy(&backend).await;
    omnigate_backend::conformance::check(&backend, "echo-model")
        .await
        .unwrap();
    // An undeclared task is refused here, without asking a worker.
    let err = backend
        .transcribe(omnigate_backend::TranscriptionRequest {
            model: "echo-model".into(),
            audio: Audio {
                sample_rate: 16_000,
                channels: 1,
                samples: vec![0.0; 16].into(),
            },
            language: None,
            prompt: None,
            temperature: None,
            translate: false,
        })
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        BackendError::Unsupported(Task::Transcription)
    ));
    w1.kill().await;
    w2.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_arrive_chunk_by_chunk_as_the_worker_wrote_them() {
    let server = NatsServer::start();
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 4),
        vec![serving("m", EchoBackend::new())],
    );
    let backend = backend(&server.url(), "og", "m", Duration::from_secs(5)).await;
    healthy(&backend).await;
    let mut request = hello("m", "one two three four five");
    request.params.insert(
        "stream_options".into(),
        serde_json::json!({"include_usage": true}),
    );
    let local: Vec<String> = EchoBackend::new()
        .chat_stream(request.clone())
        .await
        .unwrap()
        .map(|c| serde_json::to_string(&c.unwrap().into_built().unwrap()).unwrap())
        .collect()
        .await;
    let mut stream = backend.chat_stream(request).await.unwrap();
    let mut remote = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Answer::Relayed(json) = chunk.unwrap() else {
            panic!("fleet answers are relayed JSON");
        };
        remote.push(String::from_utf8(json.text().to_vec()).unwrap());
    }
    assert_eq!(remote, local);
    assert!(remote.len() > 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_reach_the_worker_intact() {
    let server = NatsServer::start();
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 4),
        vec![serving("vision model.v2", EchoBackend::new())],
    );
    let backend = backend(
        &server.url(),
        "og",
        "vision model.v2",
        Duration::from_secs(5),
    )
    .await;
    healthy(&backend).await;
    let request = ChatRequest {
        model: "vision model.v2".into(),
        messages: vec![Message {
            role: Role::User,
            content: Some(MessageContent::Parts(vec![
                ContentPart::Text("what is this".into()),
                ContentPart::Image(ImagePart {
                    image: ImageData::Tensor(ImageTensor {
                        channels: 3,
                        height: 32,
                        width: 16,
                        data: vec![0.5; 3 * 32 * 16].into(),
                    }),
                    detail: None,
                }),
                ContentPart::Audio(Audio {
                    sample_rate: 16_000,
                    channels: 1,
                    samples: vec![0.1; 24_000].into(),
                }),
            ])),
            extra: Default::default(),
        }],
        params: Default::default(),
    };
    let expected = echo_text(&request);
    assert_eq!(
        expected,
        "echo: what is this [tensor 3x32x16] [audio 1.50s 16000Hz]"
    );
    assert_eq!(text_of(backend.chat(request).await.unwrap()), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_worker_means_unavailable_at_once() {
    let server = NatsServer::start();
    let backend = backend(&server.url(), "og", "nobody", Duration::from_secs(30)).await;
    connected(&backend).await;
    let started = Instant::now();
    let err = backend.chat(hello("nobody", "hi")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let BackendError::Unavailable(message) = err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert_eq!(message, "no worker serves model nobody");
    let err = backend
        .chat_stream(hello("nobody", "hi"))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, BackendError::Unavailable(_)), "{err:?}");
    let err = backend.health().await.unwrap_err();
    assert!(err.to_string().contains("heartbeat"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_worker_takes_nothing_more_until_a_slot_frees() {
    let server = NatsServer::start();
    let watch = FleetWatch::start(nats(&server.url()), "og".into())
        .await
        .unwrap();
    let (gated, mut gate) = gated();
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 1),
        vec![serving("m", gated)],
    );
    let backend =
        std::sync::Arc::new(backend(&server.url(), "og", "m", Duration::from_secs(10)).await);
    healthy(&backend).await;
    let first = tokio::spawn({
        let backend = backend.clone();
        async move { backend.chat(hello("m", "first")).await }
    });
    assert_eq!(gate.entered().await, "first");
    // Its one slot is taken: it is not subscribed, and the fleet is reported busy at once.
    let started = Instant::now();
    let err = backend.chat(hello("m", "second")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&err, BackendError::Overloaded(m) if m.contains("busy")),
        "{err:?}"
    );
    gate.open(1);
    assert_eq!(
        text_of(within(first).await.unwrap().unwrap()),
        "echo: first"
    );
    // Once it says it is idle again, it has subscribed again.
    seen(&watch, |w| {
        w.id == "w1" && w.served == 1 && w.in_flight == 0
    })
    .await;
    gate.open(1);
    assert_eq!(
        text_of(backend.chat(hello("m", "third")).await.unwrap()),
        "echo: third"
    );
    let status = seen(&watch, |w| w.served == 2).await;
    assert_eq!(status.models, vec!["m".to_owned()]);
    assert_eq!((status.device.as_str(), status.max_in_flight), ("cpu", 1));
    assert!(!status.draining);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_of_several_models_answers_busy_when_its_slots_are_taken() {
    let server = NatsServer::start();
    let watch = FleetWatch::start(nats(&server.url()), "og".into())
        .await
        .unwrap();
    let (gated, mut gate) = gated();
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 1),
        vec![serving("a", gated), serving("b", EchoBackend::new())],
    );
    let a = std::sync::Arc::new(backend(&server.url(), "og", "a", Duration::from_secs(10)).await);
    let b = backend(&server.url(), "og", "b", Duration::from_secs(10)).await;
    healthy(&a).await;
    let held = tokio::spawn({
        let a = a.clone();
        async move { a.chat(hello("a", "held")).await }
    });
    assert_eq!(gate.entered().await, "held");
    // Model b's subscription was offered the same free slot: the worker refuses at once.
    let started = Instant::now();
    let err = b.chat(hello("b", "squeezed")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(&err, BackendError::Overloaded(m) if m.contains("max_in_flight")),
        "{err:?}"
    );
    gate.open(1);
    assert_eq!(text_of(within(held).await.unwrap().unwrap()), "echo: held");
    seen(&watch, |w| w.served == 1 && w.in_flight == 0).await;
    assert_eq!(
        text_of(b.chat(hello("b", "now")).await.unwrap()),
        "echo: now"
    );
}
