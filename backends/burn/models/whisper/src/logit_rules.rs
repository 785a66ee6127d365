//! The logit filters of Whisper's greedy decoding with timestamps (openai-whisper
//! `decoding.py`: `SuppressBlank`, `SuppressTokens`, `ApplyTimestampRules`), applied on the
//! host to one window's logits row per step.

use crate::tokens::SpecialTokens;

/// Whisper's default `max_initial_timestamp`: 1 s, i.e. 50 timestamp steps of 20 ms.
const MAX_INITIAL_TIMESTAMP_INDEX: u32 = 50;

/// Applies the suppression and timestamp rules for one decoding step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogitRules<'a> {
    tokens: &'a SpecialTokens,
}

impl<'a> LogitRules<'a> {
    /// Rules for the given vocabulary's control tokens.
    pub fn new(tokens: &'a SpecialTokens) -> Self {
        Self { tokens }
    }

    /// Masks (sets to −∞) the logits of tokens that may not follow `sampled`, the tokens
    /// generated so far after the prompt.
    pub fn apply(&self, logits: &mut [f32], sampled: &[u32]) {
        let t = self.tokens;
        let timestamp_begin = (t.timestamp_begin as usize).min(logits.len());
        let end_of_text = (t.end_of_text as usize).min(logits.len());
        let mut mask = |id: u32| {
            if let Some(logit) = logits.get_mut(id as usize) {
                *logit = f32::NEG_INFINITY;
            }
        };
        if sampled.is_empty() {
            // suppress_blank: a window never starts with a blank or ends before any token.
            t.suppress_at_begin.iter().for_each(|&id| mask(id));
        }
        t.suppress.iter().for_each(|&id| mask(id));
        // Timestamps are on, so <|notimestamps|> is never sampled.
        mask(t.no_timestamps);

        let is_timestamp = |id: &u32| t.is_timestamp(*id);
        let last_was_timestamp = sampled.last().is_some_and(is_timestamp);
        let penultimate_was_timestamp =
            sampled.len() < 2 || is_timestamp(&sampled[sampled.len() - 2]);
        if last_was_timestamp {
            if penultimate_was_timestamp {
                // A pair just closed (or the window just opened): text must follow.
                mask_range(logits, timestamp_begin, logits.len());
            } else {
                // A segment just ended: only its closing pair partner or <|endoftext|>.
                mask_range(logits, 0, end_of_text);
            }
        }

        if let Some(&last_timestamp) = sampled.iter().rev().find(|id| is_timestamp(id)) {
            // Timestamps never decrease, and a segment has non-zero length.
            let first_allowed = if last_was_timestamp && !penultimate_was_timestamp {
                last_timestamp
            } else {
                last_timestamp + 1
            };
            mask_range(logits, timestamp_begin, first_allowed as usize);
        }

        if sampled.is_empty() {
            // The window starts with a timestamp, and not later than 1 s.
            mask_range(logits, 0, timestamp_begin);
            let last_allowed = t.timestamp_begin + MAX_INITIAL_TIMESTAMP_INDEX;
            mask_range(logits, last_allowed as usize + 1, logits.len());
        }

        // If all timestamps together are likelier than any single text token, emit one.
        // (Comparing in logit space: the softmax normalizer cancels.)
        let timestamp_mass = log_sum_exp(&logits[timestamp_begin..]);
        let best_text = logits[..timestamp_begin]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        if timestamp_mass > best_text {
            mask_range(logits, 0, timestamp_begin);
        }
    }
}

fn mask_range(logits: &mut [f32], start: usize, end: usize) {
    let end = end.min(logits.len());
    if start < end {
        logits[start..end].fill(f32::NEG_INFINITY);
    }
}

/// `log(Σ exp(x))`, stable; −∞ for an empty or fully masked slice.
pub(crate) fn log_sum_exp(values: &[f32]) -> f32 {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    let sum: f32 = values.iter().map(|&v| (v - max).exp()).sum();
    max + sum.ln()
}

/// The index of the largest value (the first one on ties) and its log-probability under
/// the softmax of `logits`.
pub(crate) fn greedy_pick(logits: &[f32]) -> (u32, f32) {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    (best as u32, logits[best] - log_sum_exp(logits))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A toy vocabulary: text 0..10, <|endoftext|> 10, <|startoftranscript|> 11,
    /// <|nocaptions|> 12, <|notimestamps|> 13, timestamps 14..=100 (0.00 s .. 1.72 s).
    fn toy_tokens() -> SpecialTokens {
        SpecialTokens {
            end_of_text: 10,
            start_of_transcript: 11,
            no_timestamps: 13,
            no_speech: 12,
            timestamp_begin: 14,
            suppress: vec![3, 11, 12],
            suppress_at_begin: vec![0, 10],
        }
    }

    const VOCAB: usize = 101;
    const TS: u32 = 14;

    fn allowed(logits: &[f32]) -> Vec<u32> {
        (0..logits.len() as u32)
            .filter(|&i| logits[i as usize].is_finite())
            .collect()
    }

    fn filtered(sampled: &[u32], logits: &[f32]) -> Vec<u32> {
        let tokens = toy_tokens();
        let mut row = logits.to_vec();
        LogitRules::new(&tokens).apply(&mut row, sampled);
        allowed(&row)
    }

    #[test]
    fn first_token_is_an_early_timestamp() {
        let got = filtered(&[], &[0.0; VOCAB]);
        assert_eq!(got, (TS..=TS + 50).collect::<Vec<_>>());
    }

    #[test]
    fn text_can_follow_an_opening_timestamp() {
        // Text is likelier than the timestamp mass, so text stays allowed.
        let mut logits = vec![-10.0; VOCAB];
        logits[5] = 5.0;
        let got = filtered(&[TS + 2], &logits);
        // Suppressed: 3, 11, 12 and <|notimestamps|>; timestamps must follow a text token.
        assert_eq!(got, vec![0, 1, 2, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn after_text_timestamps_must_move_forward() {
        let mut logits = vec![-10.0; VOCAB];
        logits[5] = 5.0;
        let got = filtered(&[TS + 2, 5], &logits);
        assert!(got.contains(&5) && got.contains(&10));
        assert!(
            !got.contains(&(TS + 2)),
            "a segment cannot have zero length"
        );
        assert!(got.contains(&(TS + 3)));
    }

    #[test]
    fn a_closing_timestamp_is_followed_by_a_timestamp_or_the_end() {
        let mut logits = vec![0.0; VOCAB];
        logits[10] = 9.0;
        let got = filtered(&[TS, 5, TS + 7], &logits);
        assert_eq!(got[0], 10, "<|endoftext|> stays allowed");
        assert!(got[1..].iter().all(|&t| t >= TS + 7), "{got:?}");
        assert!(
            got.contains(&(TS + 7)),
            "the pair may repeat the closing time"
        );
    }

    #[test]
    fn a_timestamp_pair_is_followed_by_text() {
        let mut logits = vec![0.0; VOCAB];
        logits[5] = 9.0;
        let got = filtered(&[TS, 5, TS + 7, TS + 7], &logits);
        assert!(got.iter().all(|&t| t < TS), "{got:?}");
    }

    #[test]
    fn timestamp_mass_beating_every_text_token_forces_a_timestamp() {
        // Each timestamp alone is less likely than text token 5, but together they win.
        let mut logits = vec![0.0; VOCAB];
        logits[5] = 3.0;
        let got = filtered(&[TS, 5], &logits);
        assert!(got.iter().all(|&t| t > TS), "{got:?}");
        // With a dominant text token the rule stays out of the way.
        logits[5] = 8.0;
        assert!(filtered(&[TS, 5], &logits).contains(&5));
    }

    #[test]
    fn greedy_pick_returns_the_log_probability() {
        let (id, logprob) = greedy_pick(&[0.0, 2.0f32.ln(), f32::NEG_INFINITY, 0.0]);
        assert_eq!(id, 1);
        assert!((logprob - 0.5f32.ln()).abs() < 1e-6);
    }
}
