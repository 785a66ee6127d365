//! The model's own WordPiece tokenizer (`tokenizer.json`), set up the way
//! sentence-transformers runs it: truncated to `max_seq_length`, never padded (padding
//! happens per batch, in [`crate::batch`]).

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};

use crate::MiniLmError;

/// One text, tokenized and ready to be batched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    /// Vocabulary ids, `[CLS] … [SEP]`, already truncated.
    ///
    /// Token type ids are not stored: a single sentence is all segment 0.
    pub ids: Vec<u32>,
    /// Number of tokens fed to the model, `[CLS]` and `[SEP]` included (`ids.len()`).
    pub tokens: usize,
    /// Whether the text was cut to fit [`crate::MiniLm::max_tokens`].
    pub truncated: bool,
}

/// `tokenizer.json` with the truncation and padding of the sentence-transformers pipeline.
#[derive(Debug)]
pub(crate) struct SentenceTokenizer {
    inner: Tokenizer,
}

impl SentenceTokenizer {
    /// Loads `tokenizer.json` and replaces its own truncation/padding settings (the file
    /// ships with 128 tokens and fixed padding, which sentence-transformers overrides).
    pub fn load(path: &Path, max_tokens: usize) -> Result<Self, MiniLmError> {
        let load_error = |message: String| MiniLmError::TokenizerLoad {
            path: path.to_owned(),
            message,
        };
        let mut inner = Tokenizer::from_file(path).map_err(|e| load_error(e.to_string()))?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                ..TruncationParams::default()
            }))
            .map_err(|e| load_error(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Tokenizes one text, adding `[CLS]`/`[SEP]` and truncating.
    pub fn tokenize(&self, text: &str) -> Result<Tokenized, MiniLmError> {
        // `encode_fast` skips character offsets, which embedding never needs.
        let encoding = self
            .inner
            .encode_fast(text, true)
            .map_err(|e| MiniLmError::Tokenize(e.to_string()))?;
        // With truncation on, whatever was cut off is returned as overflow.
        let truncated = !encoding.get_overflowing().is_empty();
        let ids = encoding.get_ids().to_vec();
        Ok(Tokenized {
            tokens: ids.len(),
            ids,
            truncated,
        })
    }
}
