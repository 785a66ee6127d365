//! Chat answers, whole or streamed, under the model's public name, with `usage.media` (what the
//! request's media cost) added where the backend reported usage. A relayed upstream answer keeps
//! its bytes: `model` and `usage.media` are spliced in (`RelayedJson` finds both while checking
//! the answer), nothing is decoded and re-encoded.

use crate::error::ApiError;
use crate::respond::media_usage::{add_media_usage, encode_media, splice};
use crate::respond::{json, sse};
use axum::Json;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use omnigate_backend::{Answer, ChatResponse, ChatStream};
use omnigate_openapi::MediaUsage;
use std::sync::Arc;

/// A whole completion.
pub fn completion(
    answer: Answer<ChatResponse>,
    public_name: String,
    media: &MediaUsage,
) -> Result<Response, ApiError> {
    let media_json = encode_media(media)?;
    match answer {
        Answer::Relayed(relayed) => {
            if let Some(bytes) = splice(&relayed, &public_name, media_json.as_deref()) {
                return Ok(json::relayed(bytes));
            }
            built(Answer::Relayed(relayed), public_name, media)
        }
        answer => built(answer, public_name, media),
    }
}

fn built(
    answer: Answer<ChatResponse>,
    public_name: String,
    media: &MediaUsage,
) -> Result<Response, ApiError> {
    let mut response = answer.into_built()?;
    response.model = public_name;
    if let Some(usage) = response.usage.as_mut() {
        add_media_usage(usage, media);
    }
    Ok(Json(response).into_response())
}

/// The SSE response for a streamed completion, each chunk's `model` set to the public name
/// and `usage.media` added to the usage chunk.
pub fn stream(stream: ChatStream, public_name: Arc<str>, media: MediaUsage) -> Response {
    let media_json = match encode_media(&media) {
        Ok(json) => json,
        Err(err) => return err.into_response(),
    };
    let events = stream.map(move |item| match item.map_err(ApiError::from)? {
        Answer::Relayed(relayed) => match splice(&relayed, &public_name, media_json.as_deref()) {
            Some(bytes) => Ok(bytes),
            None => encode_chunk(Answer::Relayed(relayed), &public_name, &media),
        },
        answer => encode_chunk(answer, &public_name, &media),
    });
    sse::event_stream(events, true)
}

fn encode_chunk(
    answer: Answer<omnigate_backend::ChatChunk>,
    public_name: &str,
    media: &MediaUsage,
) -> Result<Bytes, ApiError> {
    let mut chunk = answer.into_built()?;
    if chunk.model != public_name {
        public_name.clone_into(&mut chunk.model);
    }
    if let Some(usage) = chunk.usage.as_mut() {
        add_media_usage(usage, media);
    }
    serde_json::to_vec(&chunk)
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(format!("cannot encode a stream chunk: {e}")))
}
