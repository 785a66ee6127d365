//! Media normalization for omnigate: decode untrusted image and audio bytes safely and shape
//! them into what a model expects ([`omnigate_backend::ImageData`], [`omnigate_backend::Audio`]).
//!
//! Everything here is synchronous, CPU-bound work: callers run it on a blocking pool. Formats are
//! detected from the bytes, sizes and durations are checked against the policy before decoding,
//! and every failure is a [`MediaError`] whose message is meant for the API client.
//!
//! - Pictures ([`normalize_image`]): JPEG, PNG, WebP, GIF, BMP and TIFF (first frame/page) are
//!   refused by declared size before decoding, oriented by EXIF, composited onto a background,
//!   resized with a Catmull-Rom convolution and re-encoded (JPEG/PNG) or turned into a CHW tensor.
//! - Sound ([`normalize_audio`]): WAV, MP3, FLAC, Ogg Vorbis, M4A/ADTS AAC and, with the default
//!   `opus` feature, Ogg/WebM Opus. Encoder delay is trimmed (AAC priming from `iTunSMPB`, the
//!   MP4 edit list, or the standard 1024 frames; Opus pre-skip from its header), channels are
//!   averaged to mono or kept, and the result is resampled with a polyphase windowed-sinc filter,
//!   packet by packet as the decoder produces them.
//!
//! Opus goes through the pure-Rust `opus-decoder` crate because Symphonia has no Opus decoder;
//! without the `opus` feature, Opus input is refused with [`MediaError::Unsupported`].

mod audio;
mod error;
mod image;

pub use audio::{AudioPolicy, AudioReport, ChannelMode, normalize_audio};
pub use error::{MediaError, MediaKind};
pub use image::{
    Detail, FitMode, ImageOutput, ImagePolicy, ImageReport, SourceImageFormat, detect_image_format,
    normalize_image, normalize_rgb,
};
