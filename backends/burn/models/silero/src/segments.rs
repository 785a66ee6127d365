//! Speech segments from per-chunk probabilities: a port of silero's
//! `get_speech_timestamps_from_probs` (silero-vad 6.2.3, `utils_vad.py`) at 16 kHz.
//!
//! The port follows silero's default `use_max_poss_sil_at_max_speech=True` path with its
//! default `min_silence_at_max_speech` of 98 ms; silero's legacy cut mode is not exposed. Every
//! duration is a whole number of samples at 16 kHz (16 per millisecond), so the arithmetic is
//! done in integers and matches silero's float arithmetic exactly; probabilities are compared
//! in `f64`, as Python does. Segments are returned in seconds without silero's rounding to
//! `time_resolution` decimals.

use crate::framing::CHUNK_SAMPLES;

/// Samples per millisecond at 16 kHz.
const SAMPLES_PER_MS: i64 = 16;
const SAMPLE_RATE: f64 = 16_000.0;
/// A silence must last longer than this (silero's `min_silence_at_max_speech`, 98 ms) to be
/// a candidate cut when a segment reaches `max_speech_s`.
const MIN_SILENCE_AT_MAX_SPEECH: i64 = 98 * SAMPLES_PER_MS;
/// `CHUNK_SAMPLES` as the signed sample positions of this module.
const CHUNK: i64 = CHUNK_SAMPLES as i64;

/// Tuning of [`segments_from_probabilities`]; the defaults are those of silero's
/// `get_speech_timestamps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadParams {
    /// Probability at or above which a chunk is speech. Speech ends only below
    /// `max(threshold - 0.15, 0.01)` (silero's default `neg_threshold`).
    pub threshold: f32,
    /// Segments of at most this duration are dropped.
    pub min_speech_ms: u32,
    /// Silence shorter than this does not end a segment.
    pub min_silence_ms: u32,
    /// Padding added to each side of a segment (halved between close segments).
    pub speech_pad_ms: u32,
    /// Longer segments are cut, at their longest inner silence when there is one.
    pub max_speech_s: f32,
}

impl Default for VadParams {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 100,
            speech_pad_ms: 30,
            max_speech_s: f32::INFINITY,
        }
    }
}

/// One stretch of speech, in seconds from the start of the audio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechSegment {
    /// Start of the speech, seconds.
    pub start: f32,
    /// End of the speech, seconds.
    pub end: f32,
}

/// Speech segments of audio `total_samples` long (16 kHz) whose 512-sample chunks have the
/// speech probabilities `probs`; the same algorithm as silero's `get_speech_timestamps`.
pub fn segments_from_probabilities(
    probs: &[f32],
    total_samples: usize,
    params: &VadParams,
) -> Vec<SpeechSegment> {
    let total = i64::try_from(total_samples).unwrap_or(i64::MAX);
    let mut segments = detect_speech(probs, total, params);
    pad_segments(
        &mut segments,
        total,
        i64::from(params.speech_pad_ms) * SAMPLES_PER_MS,
    );
    segments
        .into_iter()
        .map(|(start, end)| SpeechSegment {
            start: (start as f64 / SAMPLE_RATE) as f32,
            end: (end as f64 / SAMPLE_RATE) as f32,
        })
        .collect()
}

/// Silero's main loop: unpadded `(start, end)` sample positions of the speech.
fn detect_speech(probs: &[f32], total: i64, params: &VadParams) -> Vec<(i64, i64)> {
    let threshold = f64::from(params.threshold);
    let neg_threshold = (threshold - 0.15).max(0.01);
    let min_speech = i64::from(params.min_speech_ms) * SAMPLES_PER_MS;
    let min_silence = i64::from(params.min_silence_ms) * SAMPLES_PER_MS;
    let speech_pad = i64::from(params.speech_pad_ms) * SAMPLES_PER_MS;
    // May be infinite (the default): then no segment is ever cut.
    let max_speech = SAMPLE_RATE * f64::from(params.max_speech_s) - (CHUNK + 2 * speech_pad) as f64;

    let mut speeches = Vec::new();
    let mut triggered = false;
    let mut current_start: Option<i64> = None;
    // Start of the silence that may end the current segment; 0 means none, as in silero
    // (a silence can never start at sample 0 while triggered, so nothing is lost).
    let mut temp_end: i64 = 0;
    // (start, length) of the inner silences longer than 98 ms: the candidate cuts.
    let mut possible_ends: Vec<(i64, i64)> = Vec::new();

    for (index, &prob) in probs.iter().enumerate() {
        let prob = f64::from(prob);
        let cur_sample = CHUNK * index as i64;

        // Speech is back after a short silence: remember that silence as a candidate cut.
        if prob >= threshold && temp_end != 0 {
            let silence = cur_sample - temp_end;
            if silence > MIN_SILENCE_AT_MAX_SPEECH {
                possible_ends.push((temp_end, silence));
            }
            temp_end = 0;
        }

        if prob >= threshold && !triggered {
            triggered = true;
            current_start = Some(cur_sample);
            continue;
        }

        if let Some(start) = current_start.filter(|_| triggered)
            && (cur_sample - start) as f64 > max_speech
        {
            if let Some((cut, silence)) = longest_silence(&possible_ends) {
                speeches.push((start, cut));
                let next_start = cut + silence;
                // The segment goes on after the silence unless the cut is still in it.
                if next_start < cut + cur_sample {
                    current_start = Some(next_start);
                } else {
                    current_start = None;
                    triggered = false;
                }
                temp_end = 0;
                possible_ends.clear();
            } else {
                // No silence to cut at: cut right here and wait for speech to start again.
                speeches.push((start, cur_sample));
                current_start = None;
                temp_end = 0;
                triggered = false;
                possible_ends.clear();
                continue;
            }
        }

        if prob < neg_threshold && triggered {
            if temp_end == 0 {
                temp_end = cur_sample;
            }
            if cur_sample - temp_end < min_silence {
                continue;
            }
            if let Some(start) = current_start
                && temp_end - start > min_speech
            {
                speeches.push((start, temp_end));
            }
            current_start = None;
            temp_end = 0;
            triggered = false;
            possible_ends.clear();
        }
    }

    if let Some(start) = current_start
        && total - start > min_speech
    {
        speeches.push((start, total));
    }
    speeches
}

/// The first of the longest candidate silences (Python's `max` keeps the first maximum).
fn longest_silence(possible_ends: &[(i64, i64)]) -> Option<(i64, i64)> {
    possible_ends.iter().copied().reduce(|best, candidate| {
        if candidate.1 > best.1 {
            candidate
        } else {
            best
        }
    })
}

/// Pads each segment by `pad` samples on both sides, clamped to the audio; between segments
/// closer than `2 * pad`, the gap is split evenly instead.
fn pad_segments(segments: &mut [(i64, i64)], total: i64, pad: i64) {
    if let Some(first) = segments.first_mut() {
        first.0 = (first.0 - pad).max(0);
    }
    for index in 0..segments.len() {
        let Some(&(next_start, _)) = segments.get(index + 1) else {
            segments[index].1 = (segments[index].1 + pad).min(total);
            break;
        };
        let silence = next_start - segments[index].1;
        if silence < 2 * pad {
            // Python's floor division, should the gap ever be negative.
            let half = silence.div_euclid(2);
            segments[index].1 += half;
            segments[index + 1].0 = (next_start - half).max(0);
        } else {
            segments[index].1 = (segments[index].1 + pad).min(total);
            segments[index + 1].0 = (next_start - pad).max(0);
        }
    }
}

#[cfg(test)]
mod tests;
