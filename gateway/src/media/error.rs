//! Why a request's media could not be normalized, as the media pipeline's own error type: no
//! HTTP in here. The edge (`crate::error`) maps each case to one status, in one place.

use omnigate_fetch::FetchError;
use omnigate_media::MediaError;

/// A failure of the media pass over one request.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// A field of the request is wrong: no messages, a bad `detail` or `input_audio.format`, a
    /// `media_limits` value above the server's, a modality the model does not take.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
        /// The field at fault.
        param: Option<String>,
        /// Machine-readable code.
        code: &'static str,
    },
    /// One media item was refused.
    #[error("{message}")]
    Item {
        /// Why: decides the status.
        problem: MediaProblem,
        /// What is wrong with it.
        message: String,
        /// Where the item is, e.g. `messages[0].content[1]`.
        param: String,
        /// Machine-readable code.
        code: &'static str,
    },
    /// Every decoder stayed busy past the deadline: the server is saturated, not the item bad.
    #[error("{0}")]
    Busy(String),
    /// A remote host serving the media failed.
    #[error("{0}")]
    Upstream(String),
    /// A bug or broken invariant in the pipeline.
    #[error("{0}")]
    Internal(String),
}

/// Why a media item was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaProblem {
    /// Malformed reference or forbidden source.
    Invalid,
    /// Over a size, duration or count limit.
    TooLarge,
    /// A format or codec the gateway does not decode.
    Unsupported,
    /// Recognized but broken: truncated, corrupt, or too slow to decode.
    Undecodable,
}

impl NormalizeError {
    /// A bad field of the request.
    pub(crate) fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
            code: "invalid_request",
        }
    }
}

pub(crate) fn media(
    problem: MediaProblem,
    param: &str,
    code: &'static str,
    message: impl Into<String>,
) -> NormalizeError {
    NormalizeError::Item {
        problem,
        message: message.into(),
        param: param.to_owned(),
        code,
    }
}

pub(crate) fn from_fetch(err: FetchError, param: &str) -> NormalizeError {
    match err.status_code() {
        413 => media(
            MediaProblem::TooLarge,
            param,
            "media_too_large",
            err.to_string(),
        ),
        400..=499 => media(
            MediaProblem::Invalid,
            param,
            "media_fetch_failed",
            err.to_string(),
        ),
        502 => NormalizeError::Upstream(format!("{param}: {err}")),
        _ => NormalizeError::Internal(format!("{param}: {err}")),
    }
}

pub(crate) fn from_media(err: MediaError, param: &str) -> NormalizeError {
    let problem = match &err {
        MediaError::Empty(_) => MediaProblem::Invalid,
        MediaError::ImageTooLarge { .. } | MediaError::AudioTooLong { .. } => {
            MediaProblem::TooLarge
        }
        MediaError::Unsupported { .. } => MediaProblem::Unsupported,
        MediaError::Corrupt { .. } => MediaProblem::Undecodable,
        MediaError::InvalidPolicy(_) | MediaError::Internal(_) => {
            return NormalizeError::Internal(format!("{param}: {err}"));
        }
    };
    media(problem, param, err.code(), format!("{param}: {err}"))
}
