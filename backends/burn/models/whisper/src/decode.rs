//! Batched greedy decoding with timestamps: one decoder step for all unfinished windows.

use burn::tensor::Tensor;

use crate::WhisperError;
use crate::decoder::TextDecoder;
use crate::logit_rules::{LogitRules, greedy_pick, log_sum_exp};
use crate::tokens::SpecialTokens;

/// Whisper's `sample_len`: at most this many tokens are generated per window.
pub(crate) const MAX_NEW_TOKENS: usize = 224;

/// What greedy decoding produced for one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DecodedWindow {
    /// Generated text and timestamp tokens, without the prompt and `<|endoftext|>`.
    pub tokens: Vec<u32>,
    /// Sum of the log-probabilities of the sampled tokens, `<|endoftext|>` included.
    pub sum_logprob: f32,
    /// Probability of `<|nospeech|>` right after `<|startoftranscript|>`.
    pub no_speech_prob: f32,
}

impl DecodedWindow {
    /// Whisper's `avg_logprob`: the sum over (generated tokens + 1 for the end token).
    pub fn avg_logprob(&self) -> f32 {
        self.sum_logprob / (self.tokens.len() + 1) as f32
    }
}

/// Greedily decodes every window of `audio` (`[batch, frames, d_model]`) at once.
///
/// Each step runs the decoder on one token per unfinished window; windows that emit
/// `<|endoftext|>` or reach [`MAX_NEW_TOKENS`] leave the batch, and their cache rows are
/// dropped so later steps only pay for the windows still running.
pub(crate) fn greedy_decode(
    decoder: &TextDecoder,
    special: &SpecialTokens,
    audio: Tensor<3>,
) -> Result<Vec<DecodedWindow>, WhisperError> {
    let device = audio.device();
    let [batch, _, _] = audio.dims();
    let vocab = decoder.vocab_size();
    // Position 0 holds the prompt token; every generated token but the last is fed back.
    let max_new_tokens = MAX_NEW_TOKENS.min(decoder.max_positions().saturating_sub(1));
    let rules = LogitRules::new(special);

    let mut state = decoder.start(audio);
    let mut windows = vec![DecodedWindow::default(); batch];
    // `running[row]` is the window decoded in batch row `row`.
    let mut running: Vec<usize> = (0..batch).collect();
    let mut inputs = vec![special.start_of_transcript; batch];

    while !running.is_empty() {
        let is_first_step = state.position() == 0;
        let mut logits = decoder
            .step(&inputs, &mut state)?
            .try_into_data()
            .map_err(|e| WhisperError::TensorRead(e.to_string()))?
            .try_into_vec::<f32>()
            .map_err(|e| WhisperError::TensorRead(format!("{e:?}")))?;

        let mut kept_rows = Vec::with_capacity(running.len());
        let mut next_inputs = Vec::with_capacity(running.len());
        for (row, (&window, row_logits)) in running
            .iter()
            .zip(logits.chunks_exact_mut(vocab))
            .enumerate()
        {
            let decoded = &mut windows[window];
            if is_first_step {
                let no_speech_logit = row_logits
                    .get(special.no_speech as usize)
                    .copied()
                    .unwrap_or(f32::NEG_INFINITY);
                decoded.no_speech_prob = (no_speech_logit - log_sum_exp(row_logits)).exp();
            }
            rules.apply(row_logits, &decoded.tokens);
            let (token, logprob) = greedy_pick(row_logits);
            decoded.sum_logprob += logprob;
            if token == special.end_of_text {
                continue;
            }
            decoded.tokens.push(token);
            if decoded.tokens.len() < max_new_tokens {
                kept_rows.push(row);
                next_inputs.push(token);
            }
        }

        if kept_rows.len() < running.len() && !kept_rows.is_empty() {
            state.retain_rows(&kept_rows, &device);
        }
        running = kept_rows.iter().map(|&row| running[row]).collect();
        inputs = next_inputs;
    }
    Ok(windows)
}
