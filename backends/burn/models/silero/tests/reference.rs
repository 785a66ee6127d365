//! The burn model against onnxruntime running silero's own graph with the same weights
//! (`testdata/reference.py`), on beckett.wav.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use omnigate_silero::{SAMPLE_RATE, VadParams};

/// Largest probability difference allowed per chunk.
const TOLERANCE: f32 = 1e-3;

#[test]
fn probabilities_match_onnxruntime() {
    let vad = common::load_vad();
    let audio = common::beckett();
    let reference = common::reference();
    assert_eq!(audio.len(), reference.total_samples);

    let probs = vad.probabilities(&audio).unwrap();
    assert_eq!(probs.len(), reference.probs.len());
    let (worst_chunk, worst) = probs
        .iter()
        .zip(&reference.probs)
        .map(|(ours, theirs)| (ours - theirs).abs())
        .enumerate()
        .fold(
            (0, 0.0f32),
            |best, (i, d)| if d > best.1 { (i, d) } else { best },
        );
    println!("max |burn - onnxruntime| = {worst:.2e} at chunk {worst_chunk}");
    assert!(
        worst <= TOLERANCE,
        "chunk {worst_chunk}: burn {} vs onnxruntime {}",
        probs[worst_chunk],
        reference.probs[worst_chunk]
    );
    // Beckett is about half speech: the comparison is not between two flat lines.
    let speech_chunks = probs.iter().filter(|&&p| p >= 0.5).count();
    let silent_chunks = probs.iter().filter(|&&p| p < 0.1).count();
    assert!(
        speech_chunks > 100 && silent_chunks > 50,
        "{speech_chunks} / {silent_chunks}"
    );
}

#[test]
fn segments_match_silero_get_speech_timestamps() {
    let vad = common::load_vad();
    let audio = common::beckett();
    let reference = common::reference();

    let segments = vad.segments(&audio, &VadParams::default()).unwrap();
    let in_samples: Vec<[usize; 2]> = segments
        .iter()
        .map(|s| {
            [
                (s.start * SAMPLE_RATE as f32).round() as usize,
                (s.end * SAMPLE_RATE as f32).round() as usize,
            ]
        })
        .collect();
    println!("segments (samples): {in_samples:?}");
    assert_eq!(in_samples, reference.segments_samples);

    // The segments cover most of the speech: nearly all chunks within 20 dB of the loudest
    // one (voiced speech; the clip's pauses are 20-40 dB quieter) lie inside a segment.
    let loudness: Vec<f32> = audio
        .chunks_exact(512)
        .map(|chunk| {
            let mean_square = chunk.iter().map(|s| s * s).sum::<f32>() / 512.0;
            10.0 * mean_square.max(1e-12).log10()
        })
        .collect();
    let loudest = loudness.iter().copied().fold(f32::MIN, f32::max);
    let voiced: Vec<usize> = (0..loudness.len())
        .filter(|&chunk| loudness[chunk] > loudest - 20.0)
        .collect();
    let covered = voiced
        .iter()
        .filter(|&&chunk| {
            let (start, end) = (chunk * 512, (chunk + 1) * 512);
            in_samples.iter().any(|[s, e]| start < *e && end > *s)
        })
        .count();
    println!(
        "{covered} of {} voiced chunks inside segments",
        voiced.len()
    );
    assert!(voiced.len() > 100, "{} voiced chunks", voiced.len());
    assert!(
        covered * 100 >= voiced.len() * 85,
        "{covered} of {}",
        voiced.len()
    );
}
