//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running Whisper.
#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    /// A model file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The CTranslate2 `model.bin` is malformed or of an unsupported version.
    #[error("malformed CTranslate2 model file: {0}")]
    Ct2Format(String),
    /// A weight the model needs is absent from `model.bin`.
    #[error("model.bin has no variable `{0}`")]
    MissingVariable(String),
    /// A weight has the wrong shape or data type.
    #[error("model.bin variable `{name}`: {problem}")]
    BadVariable {
        /// The CTranslate2 variable name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// `config.json` or `tokenizer.json` is unusable.
    #[error("{path}: {problem}")]
    BadConfig {
        /// The file that is wrong.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The tokenizer failed to load or to decode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An input window is longer than 30 s.
    #[error("window {index} has {samples} samples; at most {max} (30 s at 16 kHz) are allowed")]
    WindowTooLong {
        /// Index of the window in the request.
        index: usize,
        /// Its length in samples.
        samples: usize,
        /// The maximum length in samples.
        max: usize,
    },
    /// Compressing the decoded text in memory (for its compression ratio) failed.
    #[error("compressing the decoded text failed: {0}")]
    Compress(std::io::Error),
    /// Reading a tensor back from the device failed.
    #[error("reading a tensor from the device failed: {0}")]
    TensorRead(String),
}

impl From<omnigate_cpu_ops::HostReadError> for WhisperError {
    fn from(error: omnigate_cpu_ops::HostReadError) -> Self {
        Self::TensorRead(error.to_string())
    }
}
