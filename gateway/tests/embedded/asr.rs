//! Whisper tiny.en through /v1/audio/transcriptions and chat: a real recording transcribed word
//! for word, silence transcribed as nothing.

use base64::Engine;
use serde_json::{Value, json};

use crate::{content, gateway, post};

/// faster-whisper's transcript of `testdata/speech.mp4` (espeak-ng saying "Please send the
/// quarterly report to the finance team before Friday.") with the same weights.
const SPEECH_MP4_REFERENCE: &str =
    "Please send the quarterly report to the high-end steam before Friday.";

/// faster-whisper's transcript of beckett.wav with the same weights.
const REFERENCE: &str = "Ever tried, ever failed. No matter, try again. Fail again. Fail better.";

fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

async fn transcribe(wav: Vec<u8>, format: &str) -> (u16, String) {
    let form = reqwest::multipart::Form::new()
        .text("model", "whisper-tiny.en")
        .text("response_format", format.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(wav)
                .file_name("clip.wav")
                .mime_str("audio/wav")
                .unwrap(),
        );
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/audio/transcriptions", gateway()))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_real_recording_is_transcribed_word_for_word() {
    let (status, body) = transcribe(crate::vad::beckett(), "verbose_json").await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        words(answer["text"].as_str().unwrap()),
        words(REFERENCE),
        "{answer}"
    );
    let segments = answer["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{answer}");
    let mut previous_end = 0.0;
    for segment in segments {
        let (start, end) = (
            segment["start"].as_f64().unwrap(),
            segment["end"].as_f64().unwrap(),
        );
        assert!(
            start >= previous_end - 0.05 && end > start && end <= 11.0,
            "{answer}"
        );
        previous_end = end;
    }
}

#[tokio::test]
async fn silence_is_transcribed_as_nothing() {
    let silence = crate::vad::wav(16_000, &vec![0.0; 16_000 * 8]);
    let (status, body) = transcribe(silence, "json").await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["text"], "", "{answer}");
}

#[tokio::test]
async fn chat_with_audio_answers_the_transcript() {
    let data = base64::engine::general_purpose::STANDARD.encode(crate::vad::beckett());
    let body = json!({
        "model": "whisper-tiny.en",
        "messages": [{ "role": "user", "content": [
            { "type": "input_audio", "input_audio": { "data": data, "format": "wav" } }
        ]}]
    });
    let (status, answer) = post(gateway(), "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(words(content(&answer)), words(REFERENCE), "{answer}");
}

#[tokio::test]
async fn a_streamed_transcription_sends_deltas_then_the_whole_text() {
    let form = reqwest::multipart::Form::new()
        .text("model", "whisper-tiny.en")
        .text("stream", "true")
        .part(
            "file",
            reqwest::multipart::Part::bytes(crate::vad::beckett()).file_name("clip.wav"),
        );
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/audio/transcriptions", gateway()))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "transcript.text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    let done = events.last().unwrap();
    assert_eq!(done["type"], "transcript.text.done", "{body}");
    assert_eq!(done["text"], deltas.as_str(), "{body}");
    assert_eq!(words(&deltas), words(REFERENCE), "{body}");
}

#[tokio::test]
async fn a_video_is_transcribed_from_its_audio_track() {
    let url = format!(
        "data:video/mp4;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(include_bytes!("testdata/speech.mp4"))
    );
    let body = json!({
        "model": "whisper-tiny.en",
        "messages": [{ "role": "user", "content": [
            { "type": "video_url", "video_url": { "url": url } }
        ]}]
    });
    let (status, answer) = post(gateway(), "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{answer}");
    // espeak-ng's robotic voice through 24 kb/s AAC is hard for tiny.en: faster-whisper with the
    // same weights hears the same words from this file (checked with faster-whisper 1.1.1).
    assert_eq!(
        words(content(&answer)),
        words(SPEECH_MP4_REFERENCE),
        "{answer}"
    );
}
