//! Transcripts in JSON, as workers send them: the fields of OpenAI's `verbose_json` (the core
//! `TranscriptionResponse` has no serde derives of its own), and streamed text deltas.

use omnigate_backend::{TranscriptionResponse, TranscriptionSegment};
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
            segments: vec![TranscriptionSegment {
                start_secs: 0.0,
                end_secs: 1.25,
                text: "hello".into(),
            }],
        };
        let json = serde_json::to_string(&TranscriptJson::from(&transcript)).unwrap();
        let back: TranscriptionResponse = serde_json::from_str::<TranscriptJson>(&json)
            .unwrap()
            .into();
        assert_eq!(format!("{back:?}"), format!("{transcript:?}"));
    }
}
