//! Silero VAD through chat: speech segments of a real recording; none in silence or noise.

use base64::Engine;
use serde_json::{Value, json};

use crate::{content, gateway, post};

pub fn beckett() -> Vec<u8> {
    let path = omnigate_weights::pypi_dir("useful-moonshine-onnx", "20251121")
        .join("moonshine_onnx/assets/beckett.wav");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run .ci/fetch-models", path.display()))
}

/// 16-bit mono WAV of `samples` at `rate`.
pub fn wav(rate: u32, samples: &[f32]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    out
}

async fn segments(wav: &[u8]) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(wav);
    let body = json!({
        "model": "silero-vad",
        "messages": [{ "role": "user", "content": [
            { "type": "input_audio", "input_audio": { "data": data, "format": "wav" } }
        ]}]
    });
    let (status, answer) = post(gateway(), "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{answer}");
    serde_json::from_str(content(&answer)).unwrap()
}

#[tokio::test]
async fn speech_in_a_real_recording_is_found() {
    let answer = segments(&beckett()).await;
    let clip = &answer["clips"][0];
    let duration = clip["duration_secs"].as_f64().unwrap();
    assert!((9.0..12.0).contains(&duration), "{answer}");
    let segments = clip["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{answer}");
    let speech: f64 = segments
        .iter()
        .map(|s| s["end"].as_f64().unwrap() - s["start"].as_f64().unwrap())
        .sum();
    assert!(
        speech > 0.5 * duration,
        "most of the recording is speech: {answer}"
    );
    for pair in segments.windows(2) {
        assert!(
            pair[0]["end"].as_f64() <= pair[1]["start"].as_f64(),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn silence_and_noise_have_no_speech() {
    let silence = vec![0.0f32; 16_000 * 5];
    // A fixed linear congruential generator: white noise at about -30 dBFS.
    let mut state = 0x2545_f491_u32;
    let noise: Vec<f32> = (0..16_000 * 5)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.06
        })
        .collect();
    for (name, samples) in [("silence", silence), ("noise", noise)] {
        let answer = segments(&wav(16_000, &samples)).await;
        assert_eq!(
            answer["clips"][0]["segments"],
            json!([]),
            "{name}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_request_without_sound_is_a_400() {
    let body =
        json!({ "model": "silero-vad", "messages": [{ "role": "user", "content": "hello" }] });
    let (status, answer) = post(gateway(), "/v1/chat/completions", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input_audio"),
        "{answer}"
    );
}
