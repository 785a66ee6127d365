//! The fake upstream's scripted faults, each checked over real HTTP on loopback with `reqwest`
//! on every endpoint it concerns. Every test runs under [`bounded`]; waits assert "at least",
//! never "at most".

use crate::{FakeUpstream, Mode, TRANSCRIPT};
use serde_json::{Value, json};
use std::future::Future;
use std::time::{Duration, Instant};

/// Fails the test rather than hanging CI.
pub(crate) async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test did not finish within a minute")
}

/// A client whose own timeout is far beyond anything the tests wait for on purpose.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The endpoints a fault must reach.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    Chat,
    ChatStream,
    Embeddings,
    Models,
    Transcription,
}

/// One request to `base` (`http://…/v1`); the error is the client's.
pub(crate) async fn call(
    client: &reqwest::Client,
    base: &str,
    endpoint: Call,
) -> reqwest::Result<reqwest::Response> {
    let chat = |stream: bool| {
        client
            .post(format!("{base}/chat/completions"))
            .json(&json!({
            "model": "m", "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}))
    };
    let request = match endpoint {
        Call::Chat => chat(false),
        Call::ChatStream => chat(true),
        Call::Embeddings => client
            .post(format!("{base}/embeddings"))
            .json(&json!({"model": "e", "input": ["a", "b"]})),
        Call::Models => client.get(format!("{base}/models")),
        Call::Transcription => {
            // A 16 kHz mono 16-bit WAV holding 0.1 s of silence.
            let mut wav = vec![0u8; 44 + 3200];
            wav[22..24].copy_from_slice(&1u16.to_le_bytes());
            wav[24..28].copy_from_slice(&16_000u32.to_le_bytes());
            let file = reqwest::multipart::Part::bytes(wav).file_name("a.wav");
            let form = reqwest::multipart::Form::new()
                .text("model", "whisper")
                .text("response_format", "verbose_json")
                .part("file", file);
            client
                .post(format!("{base}/audio/transcriptions"))
                .multipart(form)
        }
    };
    request.send().await
}

const EVERY_CALL: [Call; 5] = [
    Call::Chat,
    Call::ChatStream,
    Call::Embeddings,
    Call::Models,
    Call::Transcription,
];

#[tokio::test]
async fn queued_modes_apply_in_order_then_the_standing_mode() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        let client = client();
        let base = fake.base_url();
        fake.push_modes([
            Mode::Fail(500),
            Mode::FailWithRetryAfter {
                status: 429,
                retry_after_secs: 7,
            },
        ]);
        assert_eq!(fake.queued_modes(), 2);
        let first = call(&client, &base, Call::Chat).await.unwrap();
        let second = call(&client, &base, Call::Embeddings).await.unwrap();
        let third = call(&client, &base, Call::Chat).await.unwrap();
        assert_eq!(first.status(), 500);
        assert_eq!(second.status(), 429);
        assert_eq!(third.status(), 200);
        assert_eq!(fake.queued_modes(), 0);

        // "Answer once, then fail": the queue goes before a failing standing mode.
        fake.set_mode(Mode::Fail(503));
        fake.push_modes([Mode::Normal]);
        let fourth = call(&client, &base, Call::Transcription).await.unwrap();
        let fifth = call(&client, &base, Call::Transcription).await.unwrap();
        assert_eq!(fourth.status(), 200);
        assert_eq!(fifth.status(), 503);
        assert_eq!(fake.request_count(), 5);
    })
    .await;
}

#[tokio::test]
async fn request_count_counts_every_endpoint() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        let client = client();
        assert_eq!(fake.request_count(), 0);
        for (done, endpoint) in EVERY_CALL.into_iter().enumerate() {
            let response = call(&client, &fake.base_url(), endpoint).await.unwrap();
            assert_eq!(response.status(), 200, "{endpoint:?}");
            response.bytes().await.unwrap();
            assert_eq!(fake.request_count(), done + 1, "{endpoint:?}");
        }
        // Failures count too: they are tries that reached the deployment.
        fake.set_mode(Mode::Fail(500));
        call(&client, &fake.base_url(), Call::Chat).await.unwrap();
        assert_eq!(fake.request_count(), EVERY_CALL.len() + 1);
    })
    .await;
}

#[tokio::test]
async fn retry_after_failures_carry_the_header_and_an_error_body_on_every_endpoint() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        let client = client();
        for (status, endpoint) in [429, 503]
            .into_iter()
            .flat_map(|s| EVERY_CALL.map(|e| (s, e)))
        {
            fake.push_modes([Mode::FailWithRetryAfter {
                status,
                retry_after_secs: 3,
            }]);
            let response = call(&client, &fake.base_url(), endpoint).await.unwrap();
            assert_eq!(response.status(), status, "{endpoint:?}");
            assert_eq!(response.headers()["retry-after"], "3", "{endpoint:?}");
            let body: Value = response.json().await.unwrap();
            assert!(body["error"]["message"].is_string(), "{endpoint:?}: {body}");
            // The next try answers.
            let again = call(&client, &fake.base_url(), endpoint).await.unwrap();
            assert_eq!(again.status(), 200, "{endpoint:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn malformed_json_answers_are_cut_off_documents() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        fake.set_mode(Mode::Malformed);
        let client = client();
        for endpoint in [
            Call::Chat,
            Call::Embeddings,
            Call::Models,
            Call::Transcription,
        ] {
            let response = call(&client, &fake.base_url(), endpoint).await.unwrap();
            assert_eq!(response.status(), 200, "{endpoint:?}");
            assert_eq!(response.headers()["content-type"], "application/json");
            let body = response.bytes().await.unwrap();
            assert!(body.starts_with(b"{"), "{endpoint:?}");
            assert!(
                serde_json::from_slice::<Value>(&body).is_err(),
                "{endpoint:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn malformed_streams_send_a_data_line_that_is_not_json() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        fake.push_modes([Mode::Malformed]);
        let client = client();
        let response = call(&client, &fake.base_url(), Call::ChatStream)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let body = response.text().await.unwrap();
        let data: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .collect();
        assert_eq!(data.len(), 1, "{body}");
        assert!(
            serde_json::from_str::<Value>(data[0].trim()).is_err(),
            "{body}"
        );
        assert!(!body.contains("[DONE]"), "{body}");
    })
    .await;
}

/// Reads until `want` bytes came (or the body ended or failed), then returns them.
async fn read_at_least(response: &mut reqwest::Response, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        match response.chunk().await {
            Ok(Some(chunk)) => got.extend_from_slice(&chunk),
            Ok(None) => panic!("the body ended after {} bytes", got.len()),
            Err(error) => panic!("the body failed after {} bytes: {error}", got.len()),
        }
    }
    got
}

/// The body sends nothing more for a while (at least `quiet`), then fails once `fake` is dropped.
async fn assert_stalls_until_dropped(mut response: reqwest::Response, fake: FakeUpstream) {
    let quiet = Duration::from_millis(300);
    let more = tokio::time::timeout(quiet, response.chunk()).await;
    assert!(more.is_err(), "the body went on: {more:?}");
    drop(fake);
    match response.chunk().await {
        Ok(Some(chunk)) => panic!("the stalled body sent {chunk:?}"),
        Ok(None) => panic!("the stalled body ended as if complete"),
        Err(error) => assert!(!error.is_timeout(), "{error:?}"),
    }
}

#[tokio::test]
async fn hang_mid_body_sends_half_the_json_then_stalls() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        let client = client();
        let whole = call(&client, &fake.base_url(), Call::Chat)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        fake.set_mode(Mode::HangMidBody);
        let mut response = call(&client, &fake.base_url(), Call::Chat).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_length(), Some(whole.len() as u64));
        let half = read_at_least(&mut response, whole.len() / 2).await;
        assert_eq!(half, whole[..whole.len() / 2]);
        assert_stalls_until_dropped(response, fake).await;
    })
    .await;
}

#[tokio::test]
async fn hang_mid_body_streams_send_the_first_event_then_stall() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        fake.set_mode(Mode::HangMidBody);
        let client = client();
        let mut response = call(&client, &fake.base_url(), Call::ChatStream)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut first = Vec::new();
        while !first.ends_with(b"\n\n") {
            first.extend(read_at_least(&mut response, 1).await);
        }
        let first = String::from_utf8(first).unwrap();
        assert_eq!(first.matches("data:").count(), 1, "{first}");
        assert!(first.contains(r#""role":"assistant""#), "{first}");
        assert_stalls_until_dropped(response, fake).await;
    })
    .await;
}

#[tokio::test]
async fn hang_mid_body_reaches_embeddings_and_transcriptions() {
    bounded(async {
        for endpoint in [Call::Embeddings, Call::Transcription] {
            let fake = FakeUpstream::start().await;
            fake.push_modes([Mode::HangMidBody]);
            let client = client();
            let mut response = call(&client, &fake.base_url(), endpoint).await.unwrap();
            let length = response.content_length().unwrap() as usize;
            read_at_least(&mut response, length / 2).await;
            assert_stalls_until_dropped(response, fake).await;
        }
    })
    .await;
}

#[tokio::test]
async fn trickle_sends_the_normal_answer_one_byte_per_interval() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        let client = client();
        let interval = Duration::from_millis(3);
        for endpoint in [Call::Models, Call::Transcription] {
            let whole = call(&client, &fake.base_url(), endpoint)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            fake.push_modes([Mode::Trickle(interval)]);
            let started = Instant::now();
            let response = call(&client, &fake.base_url(), endpoint).await.unwrap();
            assert_eq!(response.content_length(), Some(whole.len() as u64));
            let trickled = response.bytes().await.unwrap();
            assert_eq!(trickled, whole, "{endpoint:?}");
            // N bytes, each sent after its own interval.
            assert!(started.elapsed() >= interval * whole.len() as u32);
        }
        let transcript: Value = call(&client, &fake.base_url(), Call::Transcription)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(transcript["text"], TRANSCRIPT);
    })
    .await;
}

#[tokio::test]
async fn trickled_streams_carry_the_same_events() {
    bounded(async {
        let fake = FakeUpstream::start().await;
        let client = client();
        let whole = call(&client, &fake.base_url(), Call::ChatStream)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let interval = Duration::from_millis(1);
        fake.push_modes([Mode::Trickle(interval)]);
        let started = Instant::now();
        let mut response = call(&client, &fake.base_url(), Call::ChatStream)
            .await
            .unwrap();
        let mut chunks = 0;
        let mut trickled = Vec::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            chunks += 1;
            trickled.extend_from_slice(&chunk);
        }
        assert_eq!(String::from_utf8(trickled).unwrap(), whole);
        // Each byte went as its own HTTP chunk, which the client reads as its own frame.
        assert_eq!(chunks, whole.len());
        assert!(started.elapsed() >= interval * whole.len() as u32);
        assert_eq!(fake.streams_completed(), 2);
        assert_eq!(fake.streams_cancelled(), 0);
    })
    .await;
}
