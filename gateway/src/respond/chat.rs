//! Chat answers, whole or streamed, under the model's public name, with `usage.media` (what the
//! request's media cost) added where the backend reported usage. A relayed upstream answer keeps
//! its bytes: `model` and `usage.media` are spliced in (`RelayedJson` finds both while checking
//! the answer), nothing is decoded and re-encoded.

use crate::error::ApiError;
use crate::respond::{json, sse};
use axum::Json;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use omnigate_backend::{Answer, ChatResponse, ChatStream, RelayedJson, Usage};
use omnigate_openapi::MediaUsage;
use std::sync::Arc;

/// The key omnigate adds inside `usage`.
const MEDIA_KEY: &str = "media";

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

/// The relayed bytes with `model` (and, when the request had media, `usage.media`) spliced in;
/// `None` when the splice cannot be done (the answer's `usage` already names `media`), and the
/// answer must be decoded instead.
fn splice(relayed: &RelayedJson, public_name: &str, media_json: Option<&[u8]>) -> Option<Bytes> {
    let Some(media) = media_json else {
        return Some(relayed.with_model(public_name));
    };
    match relayed.with_model_and_usage_extra(public_name, MEDIA_KEY, media) {
        Some(bytes) => Some(bytes),
        None if relayed.has_usage_object() => None,
        // No usage object: a backend that reports no usage gets none invented.
        None => Some(relayed.with_model(public_name)),
    }
}

/// `usage.media` as JSON, or `None` when the request carried no media.
fn encode_media(media: &MediaUsage) -> Result<Option<Vec<u8>>, ApiError> {
    if media.is_empty() {
        return Ok(None);
    }
    serde_json::to_vec(media)
        .map(Some)
        .map_err(|e| ApiError::Internal(format!("cannot encode media usage: {e}")))
}

/// Adds `usage.media` when the request had media.
fn add_media_usage(usage: &mut Usage, media: &MediaUsage) {
    if !media.is_empty()
        && let Ok(value) = serde_json::to_value(media)
    {
        usage.extra.insert(MEDIA_KEY.to_owned(), value);
    }
}
