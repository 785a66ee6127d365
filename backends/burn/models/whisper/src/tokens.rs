//! Special token ids and suppression lists, read from `tokenizer.json` and `config.json`.

use std::path::Path;

use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::WhisperError;

/// The ids of Whisper's control tokens, looked up by name in the tokenizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecialTokens {
    /// `<|endoftext|>`.
    pub end_of_text: u32,
    /// `<|startoftranscript|>`.
    pub start_of_transcript: u32,
    /// `<|notimestamps|>`.
    pub no_timestamps: u32,
    /// `<|nospeech|>` (called `<|nocaptions|>` in the English-only vocabularies).
    pub no_speech: u32,
    /// The first timestamp token `<|0.00|>`: the one after `<|notimestamps|>`.
    pub timestamp_begin: u32,
    /// Tokens never sampled (`suppress_ids` of config.json plus the task/control tokens,
    /// as `faster_whisper.get_suppressed_tokens` does).
    pub suppress: Vec<u32>,
    /// Tokens not sampled as the first token (`suppress_ids_begin`: the blank and
    /// `<|endoftext|>`), Whisper's `suppress_blank`.
    pub suppress_at_begin: Vec<u32>,
}

/// The part of CTranslate2's Whisper `config.json` the decoder uses.
#[derive(Deserialize)]
struct Ct2WhisperConfig {
    suppress_ids: Vec<u32>,
    suppress_ids_begin: Vec<u32>,
}

impl SpecialTokens {
    /// Looks up the control tokens in `tokenizer` and the suppression lists in `config_path`.
    pub fn load(tokenizer: &Tokenizer, config_path: &Path) -> Result<Self, WhisperError> {
        let text = std::fs::read_to_string(config_path).map_err(|source| WhisperError::Io {
            path: config_path.to_path_buf(),
            source,
        })?;
        let config: Ct2WhisperConfig =
            serde_json::from_str(&text).map_err(|e| WhisperError::BadConfig {
                path: config_path.to_path_buf(),
                problem: e.to_string(),
            })?;
        Self::from_parts(
            |name| tokenizer.token_to_id(name),
            config.suppress_ids,
            config.suppress_ids_begin,
        )
    }

    fn from_parts(
        token_id: impl Fn(&str) -> Option<u32>,
        mut suppress: Vec<u32>,
        suppress_at_begin: Vec<u32>,
    ) -> Result<Self, WhisperError> {
        let required = |name: &str| {
            token_id(name).ok_or_else(|| {
                WhisperError::Tokenizer(format!("tokenizer.json has no special token {name}"))
            })
        };
        let end_of_text = required("<|endoftext|>")?;
        let start_of_transcript = required("<|startoftranscript|>")?;
        let no_timestamps = required("<|notimestamps|>")?;
        let no_speech = token_id("<|nospeech|>")
            .or_else(|| token_id("<|nocaptions|>"))
            .ok_or_else(|| {
                WhisperError::Tokenizer(
                    "tokenizer.json has neither <|nospeech|> nor <|nocaptions|>".into(),
                )
            })?;
        // Whisper never samples the task and context tokens during transcription.
        let control = [
            "<|translate|>",
            "<|transcribe|>",
            "<|startoftranscript|>",
            "<|startofprev|>",
            "<|startoflm|>",
        ];
        suppress.extend(control.iter().filter_map(|name| token_id(name)));
        suppress.push(no_speech);
        suppress.sort_unstable();
        suppress.dedup();
        Ok(Self {
            end_of_text,
            start_of_transcript,
            no_timestamps,
            no_speech,
            timestamp_begin: no_timestamps + 1,
            suppress,
            suppress_at_begin,
        })
    }

    /// Whether `token` is a timestamp token.
    pub fn is_timestamp(&self, token: u32) -> bool {
        token >= self.timestamp_begin
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn english_only_ids(name: &str) -> Option<u32> {
        Some(match name {
            "<|endoftext|>" => 50256,
            "<|startoftranscript|>" => 50257,
            "<|translate|>" => 50357,
            "<|transcribe|>" => 50358,
            "<|startoflm|>" => 50359,
            "<|startofprev|>" => 50360,
            "<|nocaptions|>" => 50361,
            "<|notimestamps|>" => 50362,
            _ => return None,
        })
    }

    #[test]
    fn derives_timestamp_begin_and_merges_suppression() {
        let tokens =
            SpecialTokens::from_parts(english_only_ids, vec![1, 50357], vec![220, 50256]).unwrap();
        assert_eq!(tokens.no_speech, 50361);
        assert_eq!(tokens.timestamp_begin, 50363);
        assert_eq!(
            tokens.suppress,
            vec![1, 50257, 50357, 50358, 50359, 50360, 50361]
        );
        assert!(tokens.is_timestamp(50363) && !tokens.is_timestamp(50362));
    }

    #[test]
    fn missing_special_token_is_named() {
        let err = SpecialTokens::from_parts(|_| None, vec![], vec![]).unwrap_err();
        assert!(err.to_string().contains("<|endoftext|>"), "{err}");
    }
}
