//! Speech-to-text requests and answers.

use crate::media::Audio;

/// Audio to transcribe, already decoded and resampled to the model's contract.
#[derive(Debug, Clone)]
pub struct TranscriptionRequest {
    /// The model name at the backend.
    pub model: String,
    /// The sound.
    pub audio: Audio,
    /// ISO-639-1 language hint.
    pub language: Option<String>,
    /// Text to condition the decoder with.
    pub prompt: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Translate into English instead of transcribing.
    pub translate: bool,
}

/// A transcript.
#[derive(Debug, Clone, Default)]
pub struct TranscriptionResponse {
    /// The whole text.
    pub text: String,
    /// Detected or given language.
    pub language: Option<String>,
    /// Length of the audio in seconds.
    pub duration_secs: f64,
    /// Timed segments, when the model produces them.
    pub segments: Vec<TranscriptionSegment>,
}

/// A timed piece of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionSegment {
    /// Start, seconds.
    pub start_secs: f64,
    /// End, seconds.
    pub end_secs: f64,
    /// The words.
    pub text: String,
}
