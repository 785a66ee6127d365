//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong loading the model or embedding text.
#[derive(Debug, thiserror::Error)]
pub enum MiniLmError {
    /// A model file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A JSON configuration file is malformed or lacks a field the model needs.
    #[error("malformed {path}: {source}")]
    ConfigParse {
        /// The configuration file.
        path: PathBuf,
        /// What serde found wrong.
        source: serde_json::Error,
    },

    /// The configuration describes a model this crate does not implement.
    #[error("unsupported model configuration in {path}: {reason}")]
    UnsupportedConfig {
        /// The configuration file.
        path: PathBuf,
        /// What is unsupported.
        reason: String,
    },

    /// `tokenizer.json` could not be loaded or configured.
    #[error("cannot load tokenizer {path}: {message}")]
    TokenizerLoad {
        /// The tokenizer file.
        path: PathBuf,
        /// The tokenizers crate's message.
        message: String,
    },

    /// The tokenizer failed on an input text.
    #[error("tokenization failed: {0}")]
    Tokenize(String),

    /// `model.safetensors` is missing tensors, or has tensors of the wrong shape or type.
    #[error("cannot load weights from {path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Which tensor was wrong, as burn-store reports it.
        message: String,
    },

    /// A batch item cannot be fed to the model (hand-built or from another tokenizer).
    #[error("batch item {index}: {reason}")]
    InvalidInput {
        /// Position of the offending item in the batch.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// The backend failed to compute or read back the embeddings.
    #[error("backend failed while embedding: {0}")]
    Backend(String),
}
