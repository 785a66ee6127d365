//! Bodies larger than the server's max_payload, both ways.

use crate::helpers::*;
use futures::StreamExt;
use omnigate_backend::echo::EchoBackend;
use omnigate_backend::{
    Audio, Backend, EmbeddingInput, EmbeddingsRequest, TranscriptionEvent, TranscriptionRequest,
};
use omnigate_testkit::NatsServer;
use std::time::Duration;

fn speech(seconds: usize) -> TranscriptionRequest {
    TranscriptionRequest {
        model: "whisper".into(),
        audio: Audio {
            sample_rate: 16_000,
            channels: 1,
            samples: (0..16_000 * seconds)
                .map(|i| ((i % 1000) as f32 / 1000.0) - 0.5)
                .collect(),
        },
        language: Some("en".into()),
        prompt: None,
        temperature: None,
        translate: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_max_payload_arrive_whole() {
    let server = NatsServer::start();
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 2),
        vec![serving("whisper", Counter)],
    );
    let backend = backend_with(
        nats(&server.url()),
        "og",
        "whisper",
        transcription_caps(),
        Duration::from_secs(10),
    )
    .await;
    healthy(&backend).await;
    // 40 s of 16 kHz f32: 2.56 MB, three chunks.
    let request = speech(40);
    let expected = describe(&request.audio.samples);
    let transcript = backend.transcribe(request).await.unwrap();
    assert_eq!(transcript.text, expected);
    assert!((transcript.duration_secs - 40.0).abs() < 1e-9);
    assert_eq!(transcript.language.as_deref(), Some("en"));
    // Three minutes: 11.5 MB, twelve chunks, so the upload waits for the worker's ack once.
    let request = speech(180);
    let expected = describe(&request.audio.samples);
    let mut events = backend.transcribe_stream(request).await.unwrap();
    let mut deltas = String::new();
    let mut done = None;
    while let Some(event) = events.next().await {
        match event.unwrap() {
            TranscriptionEvent::Delta(text) => deltas.push_str(&text),
            TranscriptionEvent::Done(transcript) => done = Some(transcript),
        }
    }
    assert_eq!(
        deltas,
        (0..18).map(|i| format!("w{i} ")).collect::<String>()
    );
    assert_eq!(done.unwrap().text, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_max_payload_arrive_whole() {
    let server = NatsServer::start();
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 2),
        vec![serving("e5", EchoBackend::new())],
    );
    let backend = backend(&server.url(), "og", "e5", Duration::from_secs(10)).await;
    healthy(&backend).await;
    let inputs: Vec<String> = (0..20_000).map(|i| format!("input number {i}")).collect();
    let request = EmbeddingsRequest {
        model: "e5".into(),
        input: EmbeddingInput::Text(inputs),
        dimensions: None,
        extra: Default::default(),
    };
    let local = EchoBackend::new()
        .embeddings(request.clone())
        .await
        .unwrap();
    let local = serde_json::to_vec(&local.into_built().unwrap()).unwrap();
    assert!(local.len() > 2 << 20, "{} bytes", local.len());
    let remote = backend.embeddings(request).await.unwrap();
    let omnigate_backend::Answer::Relayed(remote) = remote else {
        panic!("fleet answers are relayed");
    };
    assert_eq!(remote.text(), &local[..]);
}
