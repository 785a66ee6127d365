//! What a model wants sound to look like (the policy), and what was done to it (the report).

/// What to do with the source's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelMode {
    /// Average all channels into one (what speech models expect).
    #[default]
    Mono,
    /// Keep the source's channels, interleaved.
    Keep,
}

/// The shape and limits a model's contract asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioPolicy {
    /// Output samples per second (e.g. 16000 for Whisper-style models).
    pub sample_rate: u32,
    /// Channel handling.
    pub channels: ChannelMode,
    /// The longest accepted sound, in seconds. Longer input is refused, never truncated.
    pub max_seconds: f64,
}

impl Default for AudioPolicy {
    /// 16 kHz mono, at most ten minutes.
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            channels: ChannelMode::Mono,
            max_seconds: 600.0,
        }
    }
}

/// What normalization found and did, for logs and the `/v1/normalize` endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioReport {
    /// The container, as detected from the bytes (`"wav"`, `"ogg"`, `"isomp4"`, ...).
    pub container: String,
    /// The codec (`"pcm_s16le"`, `"mp3"`, `"aac"`, `"opus"`, ...).
    pub codec: String,
    /// The source's sample rate.
    pub source_sample_rate: u32,
    /// The source's channel count.
    pub source_channels: u16,
    /// The duration the container declared, if it declared one.
    pub declared_seconds: Option<f64>,
    /// The decoded duration, after encoder delay/padding were removed.
    pub source_seconds: f64,
    /// Encoder delay (priming) frames removed from the start, at the source rate.
    pub trimmed_start_frames: u64,
    /// Padding frames removed from the end (only when the container's length was believable).
    pub trimmed_end_frames: u64,
    /// Where that delay figure came from (`"container"`, `"iTunSMPB"`, `"elst"`, `"aac default"`,
    /// `"none"`).
    pub delay_source: &'static str,
    /// Output sample rate.
    pub output_sample_rate: u32,
    /// Output channel count.
    pub output_channels: u16,
    /// Output duration in seconds.
    pub output_seconds: f64,
}
