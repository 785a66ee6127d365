//! A transcript rendered in each of OpenAI's `response_format`s: `json`, `text`, `srt`, `vtt`,
//! `verbose_json`.

use crate::error::ApiError;
use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use omnigate_backend::{TranscriptionResponse, TranscriptionSegment};
use omnigate_openapi::{
    DurationUsage, TranscriptionJson, TranscriptionSegmentJson, TranscriptionVerbose,
};
use std::fmt::Write;

/// The requested answer shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    /// `{"text": ...}`.
    Json,
    /// Plain text.
    Text,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
    /// Text, language, duration and segments.
    VerboseJson,
}

impl ResponseFormat {
    /// Parses the form field (absent = `json`).
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.map(str::trim) {
            None | Some("" | "json") => Ok(Self::Json),
            Some("text") => Ok(Self::Text),
            Some("srt") => Ok(Self::Srt),
            Some("vtt") => Ok(Self::Vtt),
            Some("verbose_json") => Ok(Self::VerboseJson),
            Some(other) => Err(ApiError::invalid(
                format!(
                    "`response_format` `{other}` is not one of json, text, srt, vtt, verbose_json."
                ),
                Some("response_format"),
            )),
        }
    }
}

/// The HTTP answer for `transcript` in `format`; the JSON forms report `audio_seconds` (the
/// decoded upload's length) as their usage.
pub fn respond(
    transcript: TranscriptionResponse,
    format: ResponseFormat,
    translate: bool,
    audio_seconds: f64,
) -> Response {
    let segments = timed_segments(&transcript);
    let usage = DurationUsage::seconds(audio_seconds);
    match format {
        ResponseFormat::Json => Json(TranscriptionJson {
            text: transcript.text,
            usage,
        })
        .into_response(),
        ResponseFormat::Text => plain(transcript.text + "\n", "text/plain; charset=utf-8"),
        ResponseFormat::Srt => plain(srt(&segments), "application/x-subrip"),
        ResponseFormat::Vtt => plain(vtt(&segments), "text/vtt; charset=utf-8"),
        ResponseFormat::VerboseJson => Json(TranscriptionVerbose {
            task: if translate { "translate" } else { "transcribe" }.to_owned(),
            language: transcript.language.clone().unwrap_or_else(|| {
                if translate {
                    "english".to_owned()
                } else {
                    String::new()
                }
            }),
            duration: transcript.duration_secs,
            text: transcript.text.clone(),
            segments: verbose_segments(&segments),
            usage,
        })
        .into_response(),
    }
}

/// The segments as `verbose_json` lists them, or `None` when a segment lacks its decoding
/// details: OpenAI's schema requires them, and there is nothing true to put in their place.
fn verbose_segments(segments: &[TranscriptionSegment]) -> Option<Vec<TranscriptionSegmentJson>> {
    segments
        .iter()
        .enumerate()
        .map(|(id, s)| {
            let decoding = s.decoding.as_ref()?;
            Some(TranscriptionSegmentJson {
                id: id as u32,
                seek: decoding.seek,
                start: s.start_secs,
                end: s.end_secs,
                text: s.text.clone(),
                tokens: decoding.tokens.clone(),
                temperature: decoding.temperature,
                avg_logprob: decoding.avg_logprob,
                compression_ratio: decoding.compression_ratio,
                no_speech_prob: decoding.no_speech_prob,
            })
        })
        .collect()
}

/// The backend's segments, or one segment spanning the whole audio when it gave none.
fn timed_segments(transcript: &TranscriptionResponse) -> Vec<TranscriptionSegment> {
    if !transcript.segments.is_empty() {
        return transcript.segments.clone();
    }
    if transcript.text.trim().is_empty() {
        return Vec::new();
    }
    vec![TranscriptionSegment {
        start_secs: 0.0,
        end_secs: transcript.duration_secs,
        text: transcript.text.clone(),
        decoding: None,
    }]
}

fn plain(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `HH:MM:SS{sep}mmm`.
fn timestamp(seconds: f64, separator: char) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

fn srt(segments: &[TranscriptionSegment]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            timestamp(s.start_secs, ','),
            timestamp(s.end_secs, ','),
            s.text.trim()
        );
    }
    out
}

fn vtt(segments: &[TranscriptionSegment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments {
        let _ = write!(
            out,
            "{} --> {}\n{}\n\n",
            timestamp(s.start_secs, '.'),
            timestamp(s.end_secs, '.'),
            s.text.trim()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnigate_backend::SegmentDecoding;

    fn segments() -> Vec<TranscriptionSegment> {
        vec![
            TranscriptionSegment {
                start_secs: 0.0,
                end_secs: 2.5,
                text: " Hello there.".into(),
                decoding: Some(decoding(0)),
            },
            TranscriptionSegment {
                start_secs: 3661.25,
                end_secs: 3662.0,
                text: "Bye.".into(),
                decoding: Some(decoding(366_000)),
            },
        ]
    }

    fn decoding(seek: u64) -> SegmentDecoding {
        SegmentDecoding {
            seek,
            tokens: vec![50363, 15496, 13, 50488],
            temperature: 0.0,
            avg_logprob: -0.25,
            compression_ratio: 0.75,
            no_speech_prob: 0.125,
        }
    }

    #[test]
    fn verbose_json_lists_segments_with_their_decoding_details() {
        let listed = verbose_segments(&segments()).unwrap();
        let json = serde_json::to_value(&listed).unwrap();
        assert_eq!(json[1]["id"], 1);
        assert_eq!(json[1]["seek"], 366_000);
        assert_eq!(
            json[1]["tokens"],
            serde_json::json!([50363, 15496, 13, 50488])
        );
        for key in [
            "temperature",
            "avg_logprob",
            "compression_ratio",
            "no_speech_prob",
        ] {
            assert!(json[0][key].is_number(), "{key}: {json}");
        }
    }

    #[test]
    fn segments_without_decoding_details_are_left_out_of_verbose_json() {
        let mut segments = segments();
        segments[1].decoding = None;
        assert!(verbose_segments(&segments).is_none());
        // A backend that reported no segments: timing for srt and vtt, none for verbose_json.
        let transcript = TranscriptionResponse {
            text: "Hello.".into(),
            duration_secs: 1.5,
            ..TranscriptionResponse::default()
        };
        let timed = timed_segments(&transcript);
        assert_eq!(timed.len(), 1);
        assert!(verbose_segments(&timed).is_none());
        assert_eq!(
            verbose_segments(&[]).unwrap().len(),
            0,
            "silence: an empty list"
        );
    }

    #[test]
    fn srt_and_vtt_timestamps() {
        assert_eq!(
            srt(&segments()),
            "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,250 --> 01:01:02,000\nBye.\n\n"
        );
        assert!(
            vtt(&segments()).starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n")
        );
    }

    #[test]
    fn formats_parse_and_unknown_is_named() {
        assert_eq!(ResponseFormat::parse(None).unwrap(), ResponseFormat::Json);
        assert_eq!(
            ResponseFormat::parse(Some("srt")).unwrap(),
            ResponseFormat::Srt
        );
        let err = ResponseFormat::parse(Some("xml")).unwrap_err();
        assert_eq!(err.body().error.param.as_deref(), Some("response_format"));
    }
}
