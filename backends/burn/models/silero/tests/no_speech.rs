//! Audio without speech yields no segments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use omnigate_silero::VadParams;

const TEN_SECONDS: usize = 160_000;

#[test]
fn digital_silence_has_no_speech() {
    let vad = common::load_vad();
    let silence = vec![0.0f32; TEN_SECONDS];
    let probs = vad.probabilities(&silence).unwrap();
    assert_eq!(probs.len(), TEN_SECONDS.div_ceil(512));
    assert!(probs.iter().all(|&p| p < 0.5), "{probs:?}");
    assert!(
        vad.segments(&silence, &VadParams::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn white_noise_has_no_speech() {
    let vad = common::load_vad();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    // Uniform noise at about -15 dBFS RMS: loud, but not speech.
    let noise: Vec<f32> = (0..TEN_SECONDS)
        .map(|_| (rng.f32() * 2.0 - 1.0) * 0.3)
        .collect();
    let segments = vad.segments(&noise, &VadParams::default()).unwrap();
    assert!(segments.is_empty(), "{segments:?}");
}
