//! Relays a backend's chat stream as server-sent events, chunk by chunk as each arrives:
//! `data: {chunk}\n\n` per delta, `data: {"error": ...}\n\n` if the backend fails mid-stream
//! (the status line is long gone by then), and `data: [DONE]\n\n` at the end. When the client
//! goes away the body is dropped, which drops the backend stream and cancels the upstream call.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use omnigate_backend::{Answer, ChatStream};
use omnigate_openapi::MediaUsage;
use std::convert::Infallible;
use std::sync::Arc;

const DONE: &[u8] = b"data: [DONE]\n\n";

/// The SSE response for `stream`, with each chunk's `model` set to the public name. Chunks an
/// upstream relayed are written as it wrote them (only `model` spliced) unless the request's
/// media usage must be added to the usage chunk.
pub fn respond(stream: ChatStream, public_model: Arc<str>, media: MediaUsage) -> Response {
    let events = stream.map(move |item| match item.map_err(ApiError::from)? {
        Answer::Relayed(json) if media.is_empty() => Ok(json.with_model(&public_model)),
        answer => {
            let mut chunk = answer.into_built()?;
            if *chunk.model != *public_model {
                chunk.model = public_model.to_string();
            }
            if let Some(usage) = chunk.usage.as_mut() {
                crate::routes::chat::add_media_usage(usage, &media);
            }
            serde_json::to_vec(&chunk)
                .map(Bytes::from)
                .map_err(|e| ApiError::Internal(format!("cannot encode a stream chunk: {e}")))
        }
    });
    event_stream(events, true)
}

/// Any stream of JSON events as server-sent events: `data: {event}\n\n` each; a failure
/// becomes one `data: {"error": ...}` event that ends the stream (the status line is long
/// gone by then); `data: [DONE]` closes it when `done_marker` (chat's convention).
pub fn event_stream<J: AsRef<[u8]>>(
    events: impl Stream<Item = Result<J, ApiError>> + Send + 'static,
    done_marker: bool,
) -> Response {
    let frames = events
        .map(|event| match event {
            Ok(json) => (frame(json.as_ref()), false),
            Err(err) => {
                tracing::warn!(error = %err, "stream failed mid-way");
                let json = serde_json::to_vec(&err.body()).unwrap_or_default();
                (frame(&json), true)
            }
        })
        // Stop after an error event: nothing sensible can follow it.
        .scan(false, |failed, (bytes, is_error)| {
            if *failed {
                return futures::future::ready(None);
            }
            *failed = is_error;
            futures::future::ready(Some(bytes))
        })
        .chain(futures::stream::iter(
            done_marker.then_some(Bytes::from_static(DONE)),
        ))
        .map(Ok::<_, Infallible>);
    let mut response = Body::from_stream(frames).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell nginx-style proxies in front of us not to buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn frame(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
