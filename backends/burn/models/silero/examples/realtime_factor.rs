//! Measures the real-time factor of speech probabilities on 60 s of audio (beckett.wav
//! repeated), alone and as a batch of 8 concurrent clips.
//!
//! `cargo run -p omnigate-silero --example realtime_factor -- SILERO_16K_SAFETENSORS BECKETT_WAV`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use burn::tensor::Device;
use omnigate_silero::{SAMPLE_RATE, SileroVad};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(weights), Some(wav)) = (args.next(), args.next()) else {
        panic!("usage: realtime_factor SILERO_16K_SAFETENSORS BECKETT_WAV");
    };
    let vad = SileroVad::load(weights.as_ref(), &Device::flex()).expect("load weights");
    let speech: Vec<f32> = hound::WavReader::open(&wav)
        .expect("open wav")
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect();
    let minute: Vec<f32> = speech
        .iter()
        .copied()
        .cycle()
        .take(60 * SAMPLE_RATE as usize)
        .collect();
    let seconds = minute.len() as f64 / f64::from(SAMPLE_RATE);

    vad.probabilities(&minute[..16_000]).expect("warm-up");
    for round in 0..3 {
        let start = Instant::now();
        vad.probabilities(&minute).expect("probabilities");
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "round {round}: 1 clip of {seconds:.0} s in {:.1} ms, real-time factor {:.5}",
            elapsed * 1e3,
            elapsed / seconds
        );
    }
    let clips: Vec<&[f32]> = vec![&minute[..]; 8];
    let start = Instant::now();
    vad.probabilities_batch(&clips).expect("batch");
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "batch: 8 clips of {seconds:.0} s in {:.1} ms, real-time factor {:.5} per clip-second",
        elapsed * 1e3,
        elapsed / (8.0 * seconds)
    );
}
