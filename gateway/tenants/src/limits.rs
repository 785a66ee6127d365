//! What a key or team may use per minute, and what one request uses.
//!
//! Every per-minute limit is an exact sliding window: at most the limit in *any* 60 seconds,
//! not per calendar minute (which lets twice the limit through across a minute's edge) and not a
//! token bucket (which lets a full burst through on top of the steady rate). So "600 requests a
//! minute" means what a reader expects, on one replica or many.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The window every per-minute limit is counted over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What is counted per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Requests.
    Requests,
    /// Prompt plus completion tokens (estimated before the call, corrected after it).
    Tokens,
    /// Picture pixels passed to the model (video frames included), counted in pixels and
    /// limited in megapixels.
    ImagePixels,
    /// Sound passed to the model, counted in milliseconds and limited in seconds.
    AudioMillis,
    /// Video frames passed to the model.
    VideoFrames,
}

impl Dimension {
    /// Every dimension, in a fixed order.
    pub const ALL: [Dimension; 5] = [
        Self::Requests,
        Self::Tokens,
        Self::ImagePixels,
        Self::AudioMillis,
        Self::VideoFrames,
    ];

    /// Its name in keys, logs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
            Self::ImagePixels => "image_pixels",
            Self::AudioMillis => "audio_ms",
            Self::VideoFrames => "video_frames",
        }
    }

    /// What a refusal tells the client it ran out of.
    pub fn described(self) -> &'static str {
        match self {
            Self::Requests => "requests per minute",
            Self::Tokens => "tokens per minute",
            Self::ImagePixels => "image megapixels per minute",
            Self::AudioMillis => "audio seconds per minute",
            Self::VideoFrames => "video frames per minute",
        }
    }
}

/// A key's or team's limits; an absent one is no limit. Media limits are in the units people
/// think in (megapixels, seconds) and counted in whole pixels and milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests in any 60 seconds.
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// Prompt + completion tokens in any 60 seconds.
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once.
    #[serde(default)]
    pub max_concurrent: Option<u64>,
    /// Megapixels of pictures and video frames in any 60 seconds.
    #[serde(default)]
    pub image_megapixels_per_minute: Option<f64>,
    /// Seconds of audio in any 60 seconds.
    #[serde(default)]
    pub audio_seconds_per_minute: Option<f64>,
    /// Video frames in any 60 seconds.
    #[serde(default)]
    pub video_frames_per_minute: Option<u64>,
}

impl Limits {
    /// The per-minute limit on `dimension`, in its counting unit.
    pub fn per_minute(&self, dimension: Dimension) -> Option<u64> {
        match dimension {
            Dimension::Requests => self.requests_per_minute,
            Dimension::Tokens => self.tokens_per_minute,
            Dimension::ImagePixels => self
                .image_megapixels_per_minute
                .map(|mp| (mp * 1e6).round() as u64),
            Dimension::AudioMillis => self
                .audio_seconds_per_minute
                .map(|s| (s * 1e3).round() as u64),
            Dimension::VideoFrames => self.video_frames_per_minute,
        }
    }

    /// Whether nothing is limited.
    pub fn is_unlimited(&self) -> bool {
        self.max_concurrent.is_none()
            && Dimension::ALL.iter().all(|d| self.per_minute(*d).is_none())
    }

    /// Checks every value; the error names the bad field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let whole = [
            ("requests_per_minute", self.requests_per_minute),
            ("tokens_per_minute", self.tokens_per_minute),
            ("max_concurrent", self.max_concurrent),
            ("video_frames_per_minute", self.video_frames_per_minute),
        ];
        for (field, value) in whole {
            if value == Some(0) {
                return Err((
                    field,
                    "must be at least 1 (leave it out for no limit)".into(),
                ));
            }
        }
        let real = [
            (
                "image_megapixels_per_minute",
                self.image_megapixels_per_minute,
            ),
            ("audio_seconds_per_minute", self.audio_seconds_per_minute),
        ];
        for (field, value) in real {
            if let Some(value) = value
                && !(value.is_finite() && value > 0.0)
            {
                return Err((field, format!("{value} is not a positive number")));
            }
        }
        Ok(())
    }
}

/// What one request uses, in counting units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// Prompt + completion tokens (an estimate until the answer says).
    pub tokens: u64,
    /// Pixels of pictures and video frames.
    pub image_pixels: u64,
    /// Milliseconds of audio.
    pub audio_ms: u64,
    /// Video frames.
    pub video_frames: u64,
}

impl Charge {
    /// The amount of `dimension` (one for requests).
    pub fn amount(&self, dimension: Dimension) -> u64 {
        match dimension {
            Dimension::Requests => 1,
            Dimension::Tokens => self.tokens,
            Dimension::ImagePixels => self.image_pixels,
            Dimension::AudioMillis => self.audio_ms,
            Dimension::VideoFrames => self.video_frames,
        }
    }
}

/// Tokens a request is charged before its answer says how many it used: about four bytes of text
/// a token, plus the completion it may ask for. Corrected once the answer's usage is known.
pub fn estimate_tokens(prompt_bytes: usize, max_completion_tokens: Option<u64>) -> u64 {
    (prompt_bytes as u64).div_ceil(4) + max_completion_tokens.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_limits_are_counted_in_whole_units() {
        let limits = Limits {
            image_megapixels_per_minute: Some(1.5),
            audio_seconds_per_minute: Some(30.0),
            ..Limits::default()
        };
        assert_eq!(limits.per_minute(Dimension::ImagePixels), Some(1_500_000));
        assert_eq!(limits.per_minute(Dimension::AudioMillis), Some(30_000));
        assert_eq!(limits.per_minute(Dimension::Requests), None);
        assert!(!limits.is_unlimited());
        assert!(Limits::default().is_unlimited());
    }

    #[test]
    fn a_zero_or_nonsense_limit_is_named() {
        let zero = Limits {
            requests_per_minute: Some(0),
            ..Limits::default()
        };
        assert_eq!(zero.check().unwrap_err().0, "requests_per_minute");
        let nan = Limits {
            audio_seconds_per_minute: Some(f64::NAN),
            ..Limits::default()
        };
        assert_eq!(nan.check().unwrap_err().0, "audio_seconds_per_minute");
    }

    #[test]
    fn tokens_are_estimated_from_the_prompt_and_the_completion_asked_for() {
        assert_eq!(estimate_tokens(0, None), 0);
        assert_eq!(estimate_tokens(9, Some(100)), 103);
    }
}
