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
    /// How a Whisper-style decoder produced it, when the backend knows (OpenAI's `verbose_json`
    /// requires these on every segment; an answer cannot list segments without them).
    pub decoding: Option<SegmentDecoding>,
}

/// A segment's decoding details, Whisper's per-segment fields. All but `tokens` describe the
/// decode of the 30 s window the segment came from, as Whisper reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDecoding {
    /// Where that window starts in the audio, in 10 ms frames.
    pub seek: u64,
    /// The segment's token ids, timestamp tokens included.
    pub tokens: Vec<u32>,
    /// The sampling temperature the window was decoded at (0 for greedy decoding).
    pub temperature: f64,
    /// The mean log-probability of the window's generated tokens.
    pub avg_logprob: f64,
    /// The window text's UTF-8 length over its zlib-compressed length.
    pub compression_ratio: f64,
    /// The probability the decoder gave to "no speech" in the window.
    pub no_speech_prob: f64,
}
