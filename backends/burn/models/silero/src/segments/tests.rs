//! Hand-made probability sequences through [`segments_from_probabilities`]. Positions are in
//! chunks of 512 samples (32 ms); expected values are derived in the comments.

use super::*;

const SPEECH: f32 = 0.9;
const SILENCE: f32 = 0.05;
/// Between `neg_threshold` (0.35) and `threshold` (0.5): neither starts nor ends speech.
const UNSURE: f32 = 0.4;

/// `runs` of (probability, chunks) laid end to end.
fn probs(runs: &[(f32, usize)]) -> Vec<f32> {
    runs.iter()
        .flat_map(|&(prob, count)| std::iter::repeat_n(prob, count))
        .collect()
}

/// Segments in samples, for exact comparison.
fn segments_in_samples(probs: &[f32], params: &VadParams) -> Vec<(i64, i64)> {
    segments_from_probabilities(probs, probs.len() * CHUNK_SAMPLES, params)
        .into_iter()
        .map(|s| {
            (
                (f64::from(s.start) * SAMPLE_RATE).round() as i64,
                (f64::from(s.end) * SAMPLE_RATE).round() as i64,
            )
        })
        .collect()
}

fn unpadded() -> VadParams {
    VadParams {
        speech_pad_ms: 0,
        ..VadParams::default()
    }
}

#[test]
fn defaults_are_silero_defaults() {
    assert_eq!(
        VadParams::default(),
        VadParams {
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 100,
            speech_pad_ms: 30,
            max_speech_s: f32::INFINITY,
        }
    );
}

#[test]
fn silence_and_no_input_give_no_segments() {
    assert!(segments_in_samples(&probs(&[(SILENCE, 50)]), &VadParams::default()).is_empty());
    assert!(segments_from_probabilities(&[], 0, &VadParams::default()).is_empty());
}

#[test]
fn speech_must_last_longer_than_min_speech() {
    // min_speech 250 ms = 4000 samples: 7 chunks (3584) are dropped, 8 chunks (4096) kept.
    let short = probs(&[(SILENCE, 10), (SPEECH, 7), (SILENCE, 10)]);
    assert!(segments_in_samples(&short, &unpadded()).is_empty());
    let long = probs(&[(SILENCE, 10), (SPEECH, 8), (SILENCE, 10)]);
    assert_eq!(segments_in_samples(&long, &unpadded()), vec![(5120, 9216)]);
}

#[test]
fn a_short_silence_does_not_split_speech() {
    // min_silence 100 ms = 1600 samples. The silence starting at chunk 20 (10240) ends the
    // segment once it has lasted 1600 samples, i.e. at its fourth chunk; three silent chunks
    // are bridged.
    let bridged = probs(&[
        (SILENCE, 10),
        (SPEECH, 10),
        (SILENCE, 3),
        (SPEECH, 10),
        (SILENCE, 10),
    ]);
    assert_eq!(
        segments_in_samples(&bridged, &unpadded()),
        vec![(5120, 16896)]
    );
    let split = probs(&[
        (SILENCE, 10),
        (SPEECH, 10),
        (SILENCE, 5),
        (SPEECH, 10),
        (SILENCE, 10),
    ]);
    assert_eq!(
        segments_in_samples(&split, &unpadded()),
        vec![(5120, 10240), (12800, 17920)]
    );
}

#[test]
fn unsure_chunks_neither_start_nor_end_speech() {
    let runs = probs(&[
        (UNSURE, 10),
        (SPEECH, 10),
        (UNSURE, 10),
        (SPEECH, 2),
        (SILENCE, 10),
    ]);
    // Speech from chunk 10 (5120) through the unsure stretch to chunk 32 (16384).
    assert_eq!(segments_in_samples(&runs, &unpadded()), vec![(5120, 16384)]);
}

#[test]
fn speech_running_to_the_end_ends_at_the_last_sample() {
    let runs = probs(&[(SILENCE, 10), (SPEECH, 20)]);
    let total = 30 * CHUNK_SAMPLES - 100;
    let segments = segments_from_probabilities(&runs, total, &unpadded());
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].start, 5120.0 / 16_000.0);
    assert_eq!(segments[0].end, total as f32 / 16_000.0);
}

#[test]
fn padding_extends_both_sides_and_clamps_to_the_audio() {
    // pad 30 ms = 480 samples. Speech from chunk 0 cannot start before 0; the end at the
    // last sample cannot grow.
    let runs = probs(&[(SPEECH, 10), (SILENCE, 10), (SPEECH, 10)]);
    assert_eq!(
        segments_in_samples(&runs, &VadParams::default()),
        vec![(0, 5120 + 480), (10240 - 480, 15360)]
    );
}

#[test]
fn padding_splits_a_narrow_gap_evenly() {
    // pad 200 ms = 3200 samples, wider than half the 5-chunk (2560-sample) gap: both sides
    // meet in its middle, 1280 samples in.
    let params = VadParams {
        speech_pad_ms: 200,
        ..VadParams::default()
    };
    let runs = probs(&[
        (SILENCE, 20),
        (SPEECH, 10),
        (SILENCE, 5),
        (SPEECH, 10),
        (SILENCE, 20),
    ]);
    assert_eq!(
        segments_in_samples(&runs, &params),
        vec![(10240 - 3200, 15360 + 1280), (17920 - 1280, 23040 + 3200)]
    );
}

#[test]
fn max_speech_cuts_at_the_longest_inner_silence() {
    // max_speech 1 s: 16000 - 512 - 2 * 480 = 14528 samples, exceeded at chunk 29 for speech
    // starting at chunk 0. Unsure chunks let a silence outlast min_silence without ending the
    // speech. Inner silences longer than 98 ms: chunks 5..9 (2048 samples) and chunks 15..20
    // (2560). The longer one wins: cut at 7680, speech resumes at 7680 + 2560.
    let params = VadParams {
        max_speech_s: 1.0,
        ..VadParams::default()
    };
    let runs = probs(&[
        (SPEECH, 5),
        (SILENCE, 3),
        (UNSURE, 1),
        (SPEECH, 6),
        (SILENCE, 1),
        (UNSURE, 4),
        (SPEECH, 15),
        (SILENCE, 10),
    ]);
    assert_eq!(
        segments_in_samples(&runs, &params),
        vec![(0, 7680 + 480), (10240 - 480, 17920 + 480)]
    );
}

#[test]
fn max_speech_prefers_the_first_of_equally_long_silences() {
    // Two 2560-sample silences at chunks 5 and 15: Python's `max` keeps the first.
    let params = VadParams {
        max_speech_s: 1.0,
        ..VadParams::default()
    };
    let runs = probs(&[
        (SPEECH, 5),
        (SILENCE, 1),
        (UNSURE, 4),
        (SPEECH, 5),
        (SILENCE, 1),
        (UNSURE, 4),
        (SPEECH, 15),
        (SILENCE, 10),
    ]);
    assert_eq!(
        segments_in_samples(&runs, &params),
        vec![(0, 2560 + 480), (5120 - 480, 19968 + 480)]
    );
}

#[test]
fn max_speech_without_a_silence_cuts_where_it_is_reached() {
    // Unbroken speech from chunk 0 is cut at chunk 29 (14848 > 14528); chunk 29 itself is
    // consumed by the cut and speech restarts at chunk 30. The 512-sample gap is narrower than
    // twice the padding, so each side takes half of it.
    let params = VadParams {
        max_speech_s: 1.0,
        ..VadParams::default()
    };
    let runs = probs(&[(SPEECH, 40)]);
    assert_eq!(
        segments_in_samples(&runs, &params),
        vec![(0, 14848 + 256), (15360 - 256, 40 * 512)]
    );
}
