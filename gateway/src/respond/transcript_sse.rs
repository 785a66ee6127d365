//! A streamed transcription (`stream=true` on `/v1/audio/transcriptions`) as server-sent events
//! in OpenAI's shape: `{"type":"transcript.text.delta","delta":...}` as text is recognized, then
//! one `{"type":"transcript.text.done","text":...}` (no `[DONE]` marker). Framing and mid-way
//! failures are `respond/sse.rs`'s.

use axum::response::Response;
use futures::StreamExt;
use omnigate_backend::{TranscriptionEvent, TranscriptionStream};
use serde_json::json;

use crate::error::ApiError;
use crate::respond::sse;

/// The SSE response for `stream`.
pub fn respond(stream: TranscriptionStream) -> Response {
    let events = stream.map(|item| {
        let event = match item.map_err(ApiError::from)? {
            TranscriptionEvent::Delta(delta) => {
                json!({ "type": "transcript.text.delta", "delta": delta })
            }
            TranscriptionEvent::Done(done) => {
                json!({ "type": "transcript.text.done", "text": done.text })
            }
        };
        Ok(event.to_string().into_bytes())
    });
    sse::event_stream(events, false)
}
