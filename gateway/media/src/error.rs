//! The one error type of the crate; every message is written for the API client who sent the media.

use std::fmt;

/// Which kind of media an error is about, so messages read naturally ("corrupt image: ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// A picture.
    Image,
    /// Sound.
    Audio,
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Image => "image",
            Self::Audio => "audio",
        })
    }
}

/// Why a piece of media could not be normalized.
///
/// Every variant except [`MediaError::Internal`] and [`MediaError::InvalidPolicy`] is the
/// client's fault (an HTTP 4xx); [`MediaError::is_client_error`] says which.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Zero bytes were given.
    #[error("empty {0}: no bytes were given")]
    Empty(MediaKind),

    /// The bytes are not a format this gateway decodes (detected from the bytes, never the MIME type).
    #[error("unsupported {kind}: {detail}")]
    Unsupported {
        /// Image or audio.
        kind: MediaKind,
        /// What was found and, where useful, what is accepted.
        detail: String,
    },

    /// The picture declares more pixels than allowed; refused before any pixel was decoded.
    #[error("image too large: {width}x{height} exceeds the limit of {limit}")]
    ImageTooLarge {
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
        /// The limit that was exceeded, in words (e.g. "16384 pixels per side").
        limit: String,
    },

    /// The sound is longer than allowed: refused from the declared duration before decoding, or
    /// stopped while decoding once the cap was passed (headers can lie).
    #[error("audio longer than {max_seconds} s{}", declared_suffix(*.declared_seconds))]
    AudioTooLong {
        /// The cap, in seconds.
        max_seconds: f64,
        /// What the container declared, when it declared anything.
        declared_seconds: Option<f64>,
    },

    /// The bytes start like a supported format but cannot be decoded.
    #[error("corrupt or truncated {kind}: {detail}")]
    Corrupt {
        /// Image or audio.
        kind: MediaKind,
        /// The decoder's explanation.
        detail: String,
    },

    /// The policy itself is unusable (a server configuration mistake, not the client's).
    #[error("invalid media policy: {0}")]
    InvalidPolicy(String),

    /// Something failed after the input was accepted (e.g. re-encoding); not the client's fault.
    #[error("media processing failed: {0}")]
    Internal(String),
}

fn declared_suffix(declared: Option<f64>) -> String {
    declared.map_or_else(String::new, |s| format!(" (it declares {s:.1} s)"))
}

impl MediaError {
    /// A short stable code for API error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty(_) => "empty_media",
            Self::Unsupported { .. } => "unsupported_media",
            Self::ImageTooLarge { .. } => "image_too_large",
            Self::AudioTooLong { .. } => "audio_too_long",
            Self::Corrupt { .. } => "corrupt_media",
            Self::InvalidPolicy(_) => "invalid_media_policy",
            Self::Internal(_) => "media_internal_error",
        }
    }

    /// True when the input is to blame (answer 4xx), false when the server is (answer 5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::InvalidPolicy(_) | Self::Internal(_))
    }

    pub(crate) fn unsupported(kind: MediaKind, detail: impl Into<String>) -> Self {
        Self::Unsupported {
            kind,
            detail: detail.into(),
        }
    }

    pub(crate) fn corrupt(kind: MediaKind, detail: impl fmt::Display) -> Self {
        Self::Corrupt {
            kind,
            detail: detail.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well_for_clients() {
        assert_eq!(
            MediaError::Empty(MediaKind::Audio).to_string(),
            "empty audio: no bytes were given"
        );
        let too_long = MediaError::AudioTooLong {
            max_seconds: 30.0,
            declared_seconds: Some(36000.0),
        };
        assert_eq!(
            too_long.to_string(),
            "audio longer than 30 s (it declares 36000.0 s)"
        );
        let big = MediaError::ImageTooLarge {
            width: 100_000,
            height: 100_000,
            limit: "16384 pixels per side".into(),
        };
        assert_eq!(
            big.to_string(),
            "image too large: 100000x100000 exceeds the limit of 16384 pixels per side"
        );
        assert!(big.is_client_error());
        assert!(!MediaError::Internal("x".into()).is_client_error());
        assert_eq!(big.code(), "image_too_large");
    }
}
