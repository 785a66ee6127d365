//! Transcripts in JSON, as workers send them: the fields of OpenAI's `verbose_json` (the core
//! `TranscriptionResponse` has no serde derives of its own), and streamed text deltas.

use omnigate_backend::{SegmentDecoding, TranscriptionResponse, TranscriptionSegment};
use serde::{Deserialize, Serialize};

/// A transcript as JSON (the fields of OpenAI's `verbose_json`).
#[derive(Debug, Serialize, Deserialize)]
pub struct TranscriptJson {
    text: String,
    #[serde(default)]
    language: Option<String>,
    duration: f64,
    #[serde(default)]
    segments: Vec<SegmentJson>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SegmentJson {
    start: f64,
    end: f64,
    text: String,
    /// Whisper's decoding details, when the worker's model reports them (flattened: the
    /// fields of `verbose_json`; absent from older workers' answers).
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    decoding: Option<DecodingJson>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DecodingJson {
    seek: u64,
    tokens: Vec<u32>,
    temperature: f64,
    avg_logprob: f64,
    compression_ratio: f64,
    no_speech_prob: f64,
}

impl From<&SegmentDecoding> for DecodingJson {
    fn from(d: &SegmentDecoding) -> Self {
        Self {
            seek: d.seek,
            tokens: d.tokens.clone(),
            temperature: d.temperature,
            avg_logprob: d.avg_logprob,
            compression_ratio: d.compression_ratio,
            no_speech_prob: d.no_speech_prob,
        }
    }
}

impl From<DecodingJson> for SegmentDecoding {
    fn from(d: DecodingJson) -> Self {
        Self {
            seek: d.seek,
            tokens: d.tokens,
            temperature: d.temperature,
            avg_logprob: d.avg_logprob,
            compression_ratio: d.compression_ratio,
            no_speech_prob: d.no_speech_prob,
        }
    }
}

impl From<&TranscriptionResponse> for TranscriptJson {
    fn from(t: &TranscriptionResponse) -> Self {
        Self {
            text: t.text.clone(),
            language: t.language.clone(),
            duration: t.duration_secs,
            segments: t
                .segments
                .iter()
                .map(|s| SegmentJson {
                    start: s.start_secs,
                    end: s.end_secs,
                    text: s.text.clone(),
                    decoding: s.decoding.as_ref().map(DecodingJson::from),
                })
                .collect(),
        }
    }
}

impl From<TranscriptJson> for TranscriptionResponse {
    fn from(t: TranscriptJson) -> Self {
        Self {
            text: t.text,
            language: t.language,
            duration_secs: t.duration,
            segments: t
                .segments
                .into_iter()
                .map(|s| TranscriptionSegment {
                    start_secs: s.start,
                    end_secs: s.end,
                    text: s.text,
                    decoding: s.decoding.map(SegmentDecoding::from),
                })
                .collect(),
        }
    }
}

/// One text delta of a streamed transcription, as JSON (`{"delta": "..."}`).
#[derive(Debug, Serialize, Deserialize)]
pub struct DeltaJson {
    /// The new text.
    pub delta: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_round_trip_as_json() {
        let transcript = TranscriptionResponse {
            text: "hello world".into(),
            language: Some("en".into()),
            duration_secs: 2.5,
            segments: vec![
                TranscriptionSegment {
                    start_secs: 0.0,
                    end_secs: 1.25,
                    text: "hello".into(),
                    decoding: Some(SegmentDecoding {
                        seek: 0,
                        tokens: vec![50363, 31373, 50425],
                        temperature: 0.0,
                        avg_logprob: -0.25,
                        compression_ratio: 0.5,
                        no_speech_prob: 0.125,
                    }),
                },
                TranscriptionSegment {
                    start_secs: 1.25,
                    end_secs: 2.5,
                    text: "world".into(),
                    decoding: None,
                },
            ],
        };
        let json = serde_json::to_string(&TranscriptJson::from(&transcript)).unwrap();
        let back: TranscriptionResponse = serde_json::from_str::<TranscriptJson>(&json)
            .unwrap()
            .into();
        assert_eq!(format!("{back:?}"), format!("{transcript:?}"));
    }
}
