//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong loading the model or running it.
#[derive(Debug, thiserror::Error)]
pub enum VadError {
    /// The weights file does not exist or cannot be opened.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The weights file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// The weights file is not a readable safetensors file, or a tensor's bytes are unusable.
    #[error("cannot load tensor {tensor} from {path}: {message}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// The tensor being read (or `*` for the file as a whole).
        tensor: String,
        /// What burn-store or the tensor data reported.
        message: String,
    },

    /// A tensor the model needs is absent from the weights file.
    #[error("{path} has no tensor {tensor}")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The absent tensor.
        tensor: String,
    },

    /// A tensor has a shape other than the Silero VAD v5 16 kHz layout.
    #[error("tensor {tensor} in {path} has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The weights file.
        path: PathBuf,
        /// The offending tensor.
        tensor: String,
        /// The shape the model needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },

    /// The backend failed to compute or read back the probabilities.
    #[error("backend failed while computing speech probabilities: {0}")]
    Backend(String),
}
