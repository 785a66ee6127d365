//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running the model.
#[derive(Debug, thiserror::Error)]
pub enum SmolLmError {
    /// The model file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The GGUF file is malformed, truncated or of an unsupported version.
    #[error("malformed GGUF file: {0}")]
    Gguf(String),
    /// A metadata key the model needs is absent or of the wrong type.
    #[error("GGUF metadata `{key}`: {problem}")]
    Metadata {
        /// The key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor the model needs is absent, or has the wrong shape or type.
    #[error("GGUF tensor `{name}`: {problem}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The tokenizer could not be built or failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A sequence would grow past the model's context.
    #[error("{needed} tokens do not fit the model's context of {context}")]
    ContextFull {
        /// Tokens the sequence would hold.
        needed: usize,
        /// The context length.
        context: usize,
    },
    /// Reading a tensor back from the device failed.
    #[error("reading a tensor from the device failed: {0}")]
    TensorRead(String),
}

impl From<omnigate_cpu_ops::HostReadError> for SmolLmError {
    fn from(e: omnigate_cpu_ops::HostReadError) -> Self {
        Self::TensorRead(e.to_string())
    }
}
