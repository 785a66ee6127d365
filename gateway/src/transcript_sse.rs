//! A streamed transcription (`stream=true` on `/v1/audio/transcriptions`) as server-sent events
//! in OpenAI's shape: `{"type":"transcript.text.delta","delta":...}` as text is recognized, then
//! one `{"type":"transcript.text.done","text":...}`. A failure mid-way ends the stream with one
//! `{"error": ...}` event. Dropping the body (client gone) drops the backend's stream.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use omnigate_backend::{TranscriptionEvent, TranscriptionStream};
use serde_json::json;

use crate::error::ApiError;

/// The SSE response for `stream`.
pub fn respond(stream: TranscriptionStream) -> Response {
    let events = stream
        .map(|item| match item {
            Ok(TranscriptionEvent::Delta(delta)) => (
                json!({ "type": "transcript.text.delta", "delta": delta }),
                false,
            ),
            Ok(TranscriptionEvent::Done(done)) => (
                json!({ "type": "transcript.text.done", "text": done.text }),
                false,
            ),
            Err(err) => {
                let err = ApiError::from(err);
                tracing::warn!(error = %err, "transcription stream failed mid-way");
                (serde_json::to_value(err.body()).unwrap_or_default(), true)
            }
        })
        // Nothing sensible follows an error event.
        .scan(false, |failed, (event, is_error)| {
            let next = (!*failed).then_some(event);
            *failed = is_error;
            futures::future::ready(next)
        })
        .map(|event| Ok::<_, Infallible>(Bytes::from(format!("data: {event}\n\n"))));
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
