//! Batching clips changes nothing but speed: each clip keeps its own state.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[test]
fn a_batch_of_clips_matches_each_clip_alone() {
    let vad = common::load_vad();
    let beckett = common::beckett();
    // Different lengths (the batch shrinks as clips end), a partial chunk, a repeated
    // clip, and an empty one.
    let clips: Vec<&[f32]> = vec![
        &beckett[40_000..60_000],
        &beckett,
        &[],
        &beckett[..1000],
        &beckett[40_000..60_000],
    ];
    let batched = vad.probabilities_batch(&clips).unwrap();
    assert_eq!(batched.len(), clips.len());
    for (clip, probs) in clips.iter().zip(&batched) {
        let alone = vad.probabilities(clip).unwrap();
        assert_eq!(probs.len(), clip.len().div_ceil(512));
        for (a, b) in probs.iter().zip(&alone) {
            assert!((a - b).abs() < 1e-5, "batched {a} vs alone {b}");
        }
    }
    assert_eq!(batched[0], batched[4]);
}

#[test]
fn state_carries_across_blocks() {
    // A block holds 4096 chunks: with 64 clips that is 64 steps, so beckett's 312 chunks
    // span five blocks here, while alone they fit in one.
    let vad = common::load_vad();
    let beckett = common::beckett();
    let shifted = &beckett[3000..];
    let clips: Vec<&[f32]> = (0..64)
        .map(|i| if i % 2 == 0 { &beckett[..] } else { shifted })
        .collect();
    let batched = vad.probabilities_batch(&clips).unwrap();
    let alone = [
        vad.probabilities(&beckett).unwrap(),
        vad.probabilities(shifted).unwrap(),
    ];
    for (i, probs) in batched.iter().enumerate() {
        let expected = &alone[i % 2];
        assert_eq!(probs.len(), expected.len());
        for (a, b) in probs.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5, "clip {i}: batched {a} vs alone {b}");
        }
    }
}
