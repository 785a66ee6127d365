//! `POST /v1/audio/transcriptions` and `/v1/audio/translations`: the multipart form and the
//! answers for each `response_format`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The multipart form (OpenAI's fields).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TranscriptionForm {
    /// The audio file: wav, mp3, flac, ogg, m4a, webm, or a video (mp4/mov) whose audio track is
    /// used.
    #[schema(value_type = String, format = Binary)]
    pub file: String,
    /// The model to use.
    pub model: String,
    /// ISO-639-1 language of the audio (transcriptions only).
    pub language: Option<String>,
    /// Text to guide the model's style or continue a previous segment.
    pub prompt: Option<String>,
    /// `json` (default), `text`, `srt`, `vtt` or `verbose_json`.
    pub response_format: Option<String>,
    /// Sampling temperature, 0 to 1.
    pub temperature: Option<f64>,
    /// Transcriptions only: answer as server-sent events while the audio is recognized,
    /// `{"type":"transcript.text.delta","delta"}` then `{"type":"transcript.text.done","text"}`
    /// (with `response_format` json or text).
    pub stream: Option<bool>,
}

/// `response_format: json`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TranscriptionJson {
    /// The transcript.
    pub text: String,
    /// What the request consumed: the seconds of sound transcribed.
    pub usage: DurationUsage,
}

/// Usage of a speech request, as OpenAI reports it for duration-billed models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DurationUsage {
    /// Always `duration`.
    #[serde(rename = "type")]
    #[schema(example = "duration")]
    pub kind: String,
    /// Seconds of sound, after decoding (the upload's own length, to the millisecond).
    pub seconds: f64,
}

impl DurationUsage {
    /// Usage for `seconds` of sound.
    pub fn seconds(seconds: f64) -> Self {
        Self {
            kind: "duration".to_owned(),
            seconds: (seconds * 1000.0).round() / 1000.0,
        }
    }
}

/// `response_format: verbose_json`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TranscriptionVerbose {
    /// `transcribe` or `translate`.
    pub task: String,
    /// The language of the audio (or of the output, for translations).
    pub language: String,
    /// Length of the audio in seconds.
    pub duration: f64,
    /// The transcript.
    pub text: String,
    /// Timed segments with their decoding details; left out when the backend does not report
    /// those details, which OpenAI's schema requires of every segment (`srt` and `vtt` still
    /// carry the timing then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<TranscriptionSegmentJson>>,
    /// What the request consumed: the seconds of sound transcribed.
    pub usage: DurationUsage,
}

/// One timed segment, with Whisper's decoding details. All but `tokens` describe the decode of
/// the (up to 30 s) window the segment came from, so the segments of one window share them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TranscriptionSegmentJson {
    /// Position.
    pub id: u32,
    /// Where the segment's window starts in the audio, in 10 ms frames.
    pub seek: u64,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// The words.
    pub text: String,
    /// The segment's token ids, timestamp tokens included.
    pub tokens: Vec<u32>,
    /// The sampling temperature the window was decoded at (0: greedy).
    pub temperature: f64,
    /// The mean log-probability of the window's generated tokens (below -1: an unsure decode).
    pub avg_logprob: f64,
    /// The window text's UTF-8 length over its zlib-compressed length (above 2.4: repetitive).
    pub compression_ratio: f64,
    /// The probability the decoder gave to "no speech" in the window.
    pub no_speech_prob: f64,
}
