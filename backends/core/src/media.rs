//! Media values as backends receive them: already decoded, checked and shaped to the model's
//! contract by the gateway's media pipeline, so no backend ever parses an untrusted file.

use std::sync::Arc;

/// An image part of a chat message.
#[derive(Debug, Clone)]
pub struct ImagePart {
    /// The picture.
    pub image: ImageData,
    /// The client's `detail` hint (`auto`, `low`, `high`, `original`), for backends that use it.
    pub detail: Option<String>,
}

/// A picture in the form the target model wants.
#[derive(Debug, Clone)]
pub enum ImageData {
    /// Re-encoded from clean RGB pixels, for backends that take files (remote servers).
    Encoded(EncodedImage),
    /// A normalized tensor, for in-process models.
    Tensor(ImageTensor),
}

/// File formats the gateway re-encodes pictures to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Lossy, small.
    Jpeg,
    /// Lossless.
    Png,
}

impl ImageFormat {
    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }
}

/// An encoded picture produced by the gateway (never the client's original bytes).
#[derive(Debug, Clone)]
pub struct EncodedImage {
    /// Its format.
    pub format: ImageFormat,
    /// The file bytes.
    pub bytes: Arc<[u8]>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A picture as a `[channels, height, width]` f32 tensor, already scaled by the model's mean/std.
#[derive(Debug, Clone)]
pub struct ImageTensor {
    /// Channels (3 for RGB).
    pub channels: u32,
    /// Height in pixels.
    pub height: u32,
    /// Width in pixels.
    pub width: u32,
    /// `channels * height * width` values, channel-major.
    pub data: Arc<[f32]>,
}

/// Decoded sound: f32 samples in [-1, 1], interleaved when there is more than one channel.
#[derive(Debug, Clone)]
pub struct Audio {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Number of interleaved channels.
    pub channels: u16,
    /// The samples.
    pub samples: Arc<[f32]>,
}

impl Audio {
    /// Length in seconds.
    pub fn duration_secs(&self) -> f64 {
        let frames = self.samples.len() / usize::from(self.channels.max(1));
        frames as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// A sampled video.
#[derive(Debug, Clone)]
pub struct Video {
    /// Frames in presentation order.
    pub frames: Vec<VideoFrame>,
    /// The audio track, if the contract asks for it and the file has one.
    pub audio: Option<Audio>,
}

/// One sampled frame.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    /// Presentation time in seconds from the start.
    pub timestamp_secs: f64,
    /// The picture.
    pub image: ImageData,
}
