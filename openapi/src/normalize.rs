//! `POST /v1/normalize` answers: what the backend would receive for each media item of a chat
//! request, and what the gateway did to produce it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The normalization of every media item in a request, in message order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NormalizeResponse {
    /// The model whose contract was applied.
    pub model: String,
    /// One entry per media part.
    pub items: Vec<NormalizedItem>,
    /// Totals, as `usage.media` reports them on a completion.
    pub media: MediaUsage,
}

/// Media consumed by a request (reported as `usage.media` on completions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MediaUsage {
    /// Pictures passed on (video frames not included).
    pub images: u32,
    /// Their pixels (output size), video frames included.
    pub image_pixels: u64,
    /// Seconds of sound passed on (video audio tracks included).
    pub audio_seconds: f64,
    /// Video frames passed on.
    pub video_frames: u32,
}

impl MediaUsage {
    /// Whether nothing was consumed.
    pub fn is_empty(&self) -> bool {
        self.images == 0
            && self.image_pixels == 0
            && self.video_frames == 0
            && self.audio_seconds == 0.0
    }
}

/// One media part.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NormalizedItem {
    /// Where it is in the request, e.g. `messages[0].content[1]`.
    pub param: String,
    /// `image`, `audio` or `video`.
    pub kind: String,
    /// `data` (data URL), `inline` (base64 field), `http` or `file`.
    pub source: String,
    /// Bytes received.
    pub input_bytes: u64,
    /// For pictures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageItem>,
    /// For sound (and a video's audio track).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioItem>,
    /// For videos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoItem>,
}

/// What happened to a picture.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImageItem {
    /// Format detected from the bytes (`jpeg`, `png`, `webp`, `gif`, `bmp`, `tiff`).
    pub source_format: String,
    /// Width as stored.
    pub original_width: u32,
    /// Height as stored.
    pub original_height: u32,
    /// EXIF orientation found (1 = upright).
    pub exif_orientation: u8,
    /// Whether it was rotated/flipped upright.
    pub orientation_applied: bool,
    /// Whether transparency was composited onto the background.
    pub alpha_composited: bool,
    /// `jpeg`, `png` or `tensor`.
    pub output: String,
    /// Output width.
    pub output_width: u32,
    /// Output height.
    pub output_height: u32,
    /// Encoded size, for `jpeg`/`png`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
}

/// What happened to a sound.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AudioItem {
    /// Container detected.
    pub container: String,
    /// Codec.
    pub codec: String,
    /// Source sample rate.
    pub source_sample_rate: u32,
    /// Source channels.
    pub source_channels: u16,
    /// Duration the header declared, if any.
    pub declared_seconds: Option<f64>,
    /// Decoded duration (encoder delay removed).
    pub source_seconds: f64,
    /// Priming frames trimmed from the start.
    pub trimmed_start_frames: u64,
    /// Output sample rate.
    pub output_sample_rate: u32,
    /// Output channels.
    pub output_channels: u16,
    /// Output duration.
    pub output_seconds: f64,
}

/// What happened to a video.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VideoItem {
    /// Container (`mp4`, `mov`).
    pub container: String,
    /// Video codec.
    pub codec: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Duration in seconds.
    pub duration_secs: f64,
    /// Frames decoded to produce the samples.
    pub decoded_frames: u32,
    /// Presentation time of each frame passed on, in seconds.
    pub frame_timestamps: Vec<f64>,
    /// Each frame's picture normalization (the same for all frames of a video).
    pub frame: Option<ImageItem>,
    /// Whether the file has an audio track.
    pub has_audio: bool,
    /// How the video reaches the model: `video` (as a video part), `images` (its frames as
    /// image parts, for a model that takes pictures but not video) or `audio` (its sound track
    /// alone, for a model that takes sound only; no frame is decoded).
    pub delivered_as: String,
}
