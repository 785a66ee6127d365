//! The one error type of the video sampler, worded for an API client.

/// Why a video was refused or could not be sampled.
///
/// Every variant except [`VideoError::InvalidPolicy`], [`VideoError::Decoder`]
/// and [`VideoError::Shaping`] describes the client's input; the messages are
/// written to be returned to the client as-is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VideoError {
    /// The input has no bytes at all.
    #[error("the video is empty")]
    Empty,
    /// The input is not an ISO-BMFF (MP4/MOV) file.
    #[error("not an MP4/MOV video: {reason}")]
    NotMp4 {
        /// What was found instead.
        reason: String,
    },
    /// The file ends before the data its header describes.
    #[error("the video file is truncated")]
    Truncated,
    /// The container or the bitstream is malformed.
    #[error("corrupt video: {reason}")]
    Corrupt {
        /// What was malformed.
        reason: String,
    },
    /// The file has no video track.
    #[error("the file has no video track")]
    NoVideoTrack,
    /// The video track uses a codec other than H.264.
    #[error("unsupported video codec '{codec}': only H.264 (avc1/avc3) is supported")]
    UnsupportedCodec {
        /// The sample-entry fourcc of the video track, e.g. `mp4v` or `hvc1`.
        codec: String,
    },
    /// A feature of the file that this sampler does not handle.
    #[error("unsupported video: {reason}")]
    Unsupported {
        /// The feature, e.g. "fragmented MP4" or "interlaced H.264".
        reason: String,
    },
    /// The declared duration is over the policy's limit.
    #[error("the video is {secs:.1} s long; the limit is {limit:.1} s")]
    TooLong {
        /// Declared duration in seconds.
        secs: f64,
        /// The policy's `max_seconds`.
        limit: f64,
    },
    /// The declared picture size is over the policy's limit.
    #[error("the video is {width}x{height} pixels; the limit is {max_width}x{max_height}")]
    TooLarge {
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
        /// The policy's `max_width`.
        max_width: u32,
        /// The policy's `max_height`.
        max_height: u32,
    },
    /// Sampling would need more decoded frames than the policy allows.
    #[error("sampling this video needs {needed} decoded frames; the limit is {limit}")]
    TooManyFrames {
        /// Frames the sampling plan needs decoded (or decoded before stopping).
        needed: u64,
        /// The policy's `max_decoded_frames`.
        limit: u32,
    },
    /// The caller's policy is unusable (a server configuration error).
    #[error("invalid video policy: {reason}")]
    InvalidPolicy {
        /// Which setting is wrong.
        reason: String,
    },
    /// The H.264 decoder could not be created (not the client's fault).
    #[error("H.264 decoder unavailable: {reason}")]
    Decoder {
        /// The decoder's own message.
        reason: String,
    },
    /// The caller's per-frame shaping failed (see
    /// [`crate::sample_frames_shaped`]; not the client's fault).
    #[error("shaping a video frame failed: {reason}")]
    Shaping {
        /// The shaping step's own message.
        reason: String,
    },
}

impl VideoError {
    /// Shorthand for [`VideoError::Corrupt`].
    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        Self::Corrupt {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`VideoError::Unsupported`].
    pub(crate) fn unsupported(reason: impl Into<String>) -> Self {
        Self::Unsupported {
            reason: reason.into(),
        }
    }

    /// Whether the error is the client's input (HTTP 4xx) rather than the
    /// server's configuration or environment (HTTP 5xx).
    #[must_use]
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Self::InvalidPolicy { .. } | Self::Decoder { .. } | Self::Shaping { .. }
        )
    }
}
