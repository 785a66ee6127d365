//! Splitting a window's generated tokens into timed segments.

/// Seconds per timestamp token step (2 × 10 ms mel hop, after the encoder's stride 2).
pub(crate) const SECONDS_PER_TIMESTAMP: f32 = 0.02;

/// A run of text tokens between two timestamps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TokenSegment {
    /// Start, seconds from the window start.
    pub start: f32,
    /// End, seconds from the window start.
    pub end: f32,
    /// The text tokens (no timestamps).
    pub text_tokens: Vec<u32>,
    /// The segment's slice of the window's tokens, timestamps included, as Whisper reports a
    /// segment's `tokens`: the slices of consecutive segments follow one another.
    pub tokens: Vec<u32>,
}

/// Groups `tokens` (text and timestamps, as generated after the prompt, without
/// `<|endoftext|>`) into segments `<|start|> text… <|end|>`.
///
/// Whisper's `transcribe` re-decodes text after the last closed segment in the next 30 s
/// window; here the caller's windows are independent, so trailing text without a closing
/// timestamp becomes a last segment ending at `window_seconds`.
pub(crate) fn split_segments(
    tokens: &[u32],
    timestamp_begin: u32,
    window_seconds: f32,
) -> Vec<TokenSegment> {
    let seconds = |token: u32| (token - timestamp_begin) as f32 * SECONDS_PER_TIMESTAMP;
    let mut segments = Vec::new();
    let mut open: Option<f32> = None;
    let mut last_time = 0.0f32;
    let mut text_tokens = Vec::new();
    // Where the segment being read starts in `tokens`.
    let mut first = 0;
    for (i, &token) in tokens.iter().enumerate() {
        if token < timestamp_begin {
            text_tokens.push(token);
            continue;
        }
        let time = seconds(token);
        if text_tokens.is_empty() {
            // An opening timestamp, or a repeated one before any text: (re)start here.
            open = Some(time);
            first = i;
        } else {
            // Closing timestamp. Text without an opening one (the rules prevent it)
            // starts where the previous segment ended.
            let start = open.unwrap_or(last_time);
            segments.push(TokenSegment {
                start,
                end: time.max(start),
                text_tokens: std::mem::take(&mut text_tokens),
                tokens: tokens[first..=i].to_vec(),
            });
            open = None;
            first = i + 1;
        }
        last_time = time;
    }
    if !text_tokens.is_empty() {
        let start = open.unwrap_or(last_time);
        segments.push(TokenSegment {
            start,
            end: window_seconds.max(start),
            text_tokens,
            tokens: tokens[first..].to_vec(),
        });
    }
    segments
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const TS: u32 = 1000;

    fn spans(segments: &[TokenSegment]) -> Vec<(f32, f32, Vec<u32>)> {
        segments
            .iter()
            .map(|s| (s.start, s.end, s.text_tokens.clone()))
            .collect()
    }

    #[test]
    fn pairs_of_timestamps_delimit_segments() {
        // <|0.00|> a b <|1.00|><|1.00|> c <|2.50|>
        let tokens = [TS, 1, 2, TS + 50, TS + 50, 3, TS + 125];
        let got = spans(&split_segments(&tokens, TS, 30.0));
        assert_eq!(got, vec![(0.0, 1.0, vec![1, 2]), (1.0, 2.5, vec![3])]);
    }

    #[test]
    fn single_closing_timestamps_also_split() {
        // <|0.00|> a <|1.00|> b <|2.00|>: the closing time of one segment opens the next.
        let tokens = [TS, 1, TS + 50, 2, TS + 100];
        let got = spans(&split_segments(&tokens, TS, 30.0));
        assert_eq!(got, vec![(0.0, 1.0, vec![1]), (1.0, 2.0, vec![2])]);
    }

    #[test]
    fn each_segment_holds_its_slice_of_the_tokens_timestamps_included() {
        // <|0.00|> a b <|1.00|><|1.00|> c <|2.50|> d <|3.00|> e
        let tokens = [TS, 1, 2, TS + 50, TS + 50, 3, TS + 125, 4, TS + 150, 5];
        let slices: Vec<Vec<u32>> = split_segments(&tokens, TS, 30.0)
            .into_iter()
            .map(|s| s.tokens)
            .collect();
        assert_eq!(
            slices,
            vec![
                vec![TS, 1, 2, TS + 50],
                vec![TS + 50, 3, TS + 125],
                vec![4, TS + 150],
                vec![5],
            ]
        );
        assert_eq!(slices.concat(), tokens, "the slices follow one another");
    }

    #[test]
    fn unclosed_text_runs_to_the_window_end() {
        let tokens = [TS + 25, 7, 8];
        let got = spans(&split_segments(&tokens, TS, 4.0));
        assert_eq!(got, vec![(0.5, 4.0, vec![7, 8])]);
    }

    #[test]
    fn no_text_gives_no_segments() {
        assert!(split_segments(&[TS, TS + 3], TS, 30.0).is_empty());
        assert!(split_segments(&[], TS, 30.0).is_empty());
    }
}
