//! The `[media]` section (server-wide limits and default contracts) and the per-model
//! `[models.NAME.image|audio|video]` overrides. Every contract field is optional: a model's value
//! wins over `[media.image]` etc., which win over the built-in defaults the gateway documents.

use serde::Deserialize;
use std::path::PathBuf;

/// Server-wide media limits and the default contract of every model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Largest single media item, in bytes after base64 decoding or download.
    pub max_item_bytes: usize,
    /// Largest total of media bytes in one request.
    pub max_request_bytes: usize,
    /// Most image parts in one request.
    pub max_images_per_request: usize,
    /// Most audio parts in one request.
    pub max_audio_per_request: usize,
    /// Most video parts in one request.
    pub max_videos_per_request: usize,
    /// Decode slots across all requests (0 = one per CPU): one per item being decoded, and a
    /// video's keyframe runs also take the slots that are free when it starts.
    pub decode_concurrency: usize,
    /// Deadline for decoding one item, waiting for a decode slot included.
    pub decode_timeout_secs: f64,
    /// Where media may be fetched from.
    pub fetch: FetchConfig,
    /// Default picture contract.
    pub image: ImageContract,
    /// Default sound contract.
    pub audio: AudioContract,
    /// Default video contract.
    pub video: VideoContract,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_item_bytes: 20 * 1024 * 1024,
            max_request_bytes: 64 * 1024 * 1024,
            max_images_per_request: 16,
            max_audio_per_request: 4,
            max_videos_per_request: 2,
            decode_concurrency: 0,
            decode_timeout_secs: 30.0,
            fetch: FetchConfig::default(),
            image: ImageContract::default(),
            audio: AudioContract::default(),
            video: VideoContract::default(),
        }
    }
}

/// Rules for media given by URL.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Deadline for fetching one picture (all redirects and the body).
    pub image_timeout_secs: f64,
    /// Deadline for fetching one sound.
    pub audio_timeout_secs: f64,
    /// Deadline for fetching one video.
    pub video_timeout_secs: f64,
    /// Redirects followed (each hop re-checked).
    pub max_redirects: u8,
    /// Hosts exempt from the private-address ban: exact names/IPs or `*.suffix`.
    pub allow_hosts: Vec<String>,
    /// Accept plain `http:` URLs.
    pub allow_http: bool,
    /// Directory `file:` URLs may read from; unset = `file:` refused.
    pub file_root: Option<PathBuf>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            image_timeout_secs: 10.0,
            audio_timeout_secs: 20.0,
            video_timeout_secs: 30.0,
            max_redirects: 3,
            allow_hosts: Vec::new(),
            allow_http: true,
            file_root: None,
        }
    }
}

/// How a model wants pictures.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageContract {
    /// Box side for `high`/`auto` detail (default 2048).
    pub max_side: Option<u32>,
    /// Most output pixels (default 4194304).
    pub max_pixels: Option<u64>,
    /// Box side for `low` detail (default 512).
    pub low_detail_side: Option<u32>,
    /// Refuse inputs wider or taller than this, from the header (default 16384).
    pub max_input_side: Option<u32>,
    /// Refuse inputs with more pixels than this, from the header (default 40000000).
    pub max_input_pixels: Option<u64>,
    /// `fit` (keep aspect inside the box), `pad` (to the exact box) or `crop` (centre crop).
    pub fit: Option<FitMode>,
    /// RGB that transparency is composited onto and padding filled with (default white).
    pub background: Option<[u8; 3]>,
    /// `jpeg` or `png` (files, for remote backends) or `tensor` (for in-process models).
    pub output: Option<ImageOutputKind>,
    /// JPEG quality 1-100 (default 90).
    pub jpeg_quality: Option<u8>,
    /// Tensor `[width, height]`.
    pub tensor_size: Option<[u32; 2]>,
    /// Tensor per-channel mean on the 0-1 scale (default ImageNet's).
    pub mean: Option<[f32; 3]>,
    /// Tensor per-channel std (default ImageNet's).
    pub std: Option<[f32; 3]>,
}

/// Picture shaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitMode {
    /// Keep the aspect ratio inside the box.
    Fit,
    /// Fit, then pad to the exact box.
    Pad,
    /// Cover the box, cut the overflow.
    Crop,
}

/// Picture output form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageOutputKind {
    /// Baseline JPEG.
    Jpeg,
    /// RGB PNG.
    Png,
    /// A normalized f32 CHW tensor.
    Tensor,
}

/// How a model wants sound.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioContract {
    /// Output sample rate (default 16000).
    pub sample_rate: Option<u32>,
    /// `mono` (channel mean) or `keep` (default mono).
    pub channels: Option<ChannelMode>,
    /// Longest accepted sound in seconds (default 600); longer is refused, never truncated.
    pub max_seconds: Option<f64>,
}

/// Channel handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelMode {
    /// Average the channels.
    Mono,
    /// Keep them, interleaved.
    Keep,
}

/// How a model wants video.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoContract {
    /// Sample this many frames per second (default 1) ...
    pub fps: Option<f64>,
    /// ... or exactly this many frames, spread uniformly (overrides `fps`).
    pub frames: Option<u32>,
    /// Most frames passed on (default 32).
    pub max_frames: Option<u32>,
    /// Longest accepted video in seconds (default 600).
    pub max_seconds: Option<f64>,
    /// Refuse videos wider or taller than this, from the header (default 4096).
    pub max_input_side: Option<u32>,
    /// Pass the audio track on as an audio part when the model takes audio (default true).
    pub extract_audio: Option<bool>,
    /// How a video reaches a model without the `video` modality (default `auto`).
    pub adapt: Option<VideoAdapt>,
}

/// What becomes of a video sent to a model that does not take video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoAdapt {
    /// As what the model does take: its sampled frames as image parts if it takes pictures,
    /// its audio track as an audio part if it takes sound (and `extract_audio` allows).
    Auto,
    /// Refused with a 400, like any other modality the model does not take.
    Refuse,
}
