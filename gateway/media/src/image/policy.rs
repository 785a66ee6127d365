//! What a model wants a picture to look like (the policy), and what was done to one (the report).

use super::detect::SourceImageFormat;

/// How a picture is shaped into the target box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FitMode {
    /// Keep the aspect ratio and fit inside the box; never upscales. For a tensor output, whose
    /// size is fixed, the picture is instead stretched to exactly that size (SigLIP-style).
    #[default]
    Fit,
    /// Keep the aspect ratio, scale so the whole picture fits the box (up or down), and fill the
    /// rest with the background colour so the output is exactly the box.
    Pad,
    /// Keep the aspect ratio, scale so the picture covers the box (up or down), and cut the
    /// overflow equally from both sides (CLIP-style centre crop).
    Crop,
}

/// The client's `detail` hint (OpenAI's `image_url.detail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// A small picture: the box side is [`ImagePolicy::low_detail_side`].
    Low,
    /// Full detail: the box side is [`ImagePolicy::max_side`].
    High,
    /// Let the gateway choose; same as [`Detail::High`].
    #[default]
    Auto,
    /// No downscaling at all (input limits still apply; output limits do not).
    Original,
}

impl Detail {
    /// Parses the API spelling (`low`, `high`, `auto`, `original`), ignoring case.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "high" => Some(Self::High),
            "auto" => Some(Self::Auto),
            "original" => Some(Self::Original),
            _ => None,
        }
    }
}

/// What to produce.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageOutput {
    /// Re-encode as baseline JPEG.
    Jpeg {
        /// 1..=100.
        quality: u8,
    },
    /// Re-encode as 8-bit RGB PNG.
    Png,
    /// A `[3, height, width]` f32 tensor with values `(x / 255 - mean) / std` per channel,
    /// resized to exactly `size` using the policy's [`FitMode`]. `detail` does not apply.
    Tensor {
        /// `(width, height)` in pixels.
        size: (u32, u32),
        /// Per-channel mean (R, G, B) on the 0..1 scale.
        mean: [f32; 3],
        /// Per-channel standard deviation (R, G, B); must be non-zero.
        std: [f32; 3],
    },
}

/// The limits and shape a model's contract asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePolicy {
    /// The side of the target box for `high`/`auto` detail.
    pub max_side: u32,
    /// The most pixels an encoded output may have (for `low`/`high`/`auto`).
    pub max_pixels: u64,
    /// The side of the target box for `low` detail.
    pub low_detail_side: u32,
    /// Refuse inputs declaring a wider or taller picture than this, before decoding.
    pub max_input_side: u32,
    /// Refuse inputs declaring more pixels than this, before decoding.
    pub max_input_pixels: u64,
    /// How to shape the picture into the box.
    pub fit: FitMode,
    /// The colour transparent areas are composited onto, and padding is filled with (RGB).
    pub background: [u8; 3],
    /// The output form.
    pub output: ImageOutput,
}

impl Default for ImagePolicy {
    /// A policy for remote vision models: at most 2048 px per side and 4 Mpx, JPEG q90,
    /// inputs up to 16384 px per side and 64 Mpx, white background.
    fn default() -> Self {
        Self {
            max_side: 2048,
            max_pixels: 4 * 1024 * 1024,
            low_detail_side: 512,
            max_input_side: 16_384,
            max_input_pixels: 64 * 1024 * 1024,
            fit: FitMode::Fit,
            background: [255, 255, 255],
            output: ImageOutput::Jpeg { quality: 90 },
        }
    }
}

/// What normalization found and did, for logs and the `/v1/normalize` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    /// The format detected from the bytes.
    pub source_format: SourceImageFormat,
    /// Width as stored in the file, before orientation.
    pub original_width: u32,
    /// Height as stored in the file, before orientation.
    pub original_height: u32,
    /// The EXIF orientation value found (1 = upright, 2..=8 = flipped/rotated).
    pub exif_orientation: u8,
    /// Whether a rotation or flip was applied because of it.
    pub orientation_applied: bool,
    /// Whether the picture had transparency that was composited onto the background.
    pub alpha_composited: bool,
    /// Output width in pixels.
    pub output_width: u32,
    /// Output height in pixels.
    pub output_height: u32,
}
