//! `usage.media`: what a request's media cost (pictures, pixels, audio seconds, frames), added
//! inside the answer's `usage` where the backend reported usage. Relayed answers get it spliced
//! into their bytes; built ones get it as a field.

use crate::error::ApiError;
use axum::body::Bytes;
use omnigate_backend::{RelayedJson, Usage};
use omnigate_openapi::MediaUsage;

/// The key omnigate adds inside `usage`.
const MEDIA_KEY: &str = "media";

/// The relayed bytes with `model` (and, when the request had media, `usage.media`) spliced in;
/// `None` when the splice cannot be done (the answer's `usage` already names `media`), and the
/// answer must be decoded instead.
pub(crate) fn splice(
    relayed: &RelayedJson,
    public_name: &str,
    media_json: Option<&[u8]>,
) -> Option<Bytes> {
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
pub(crate) fn encode_media(media: &MediaUsage) -> Result<Option<Vec<u8>>, ApiError> {
    if media.is_empty() {
        return Ok(None);
    }
    serde_json::to_vec(media)
        .map(Some)
        .map_err(|e| ApiError::Internal(format!("cannot encode media usage: {e}")))
}

/// Adds `usage.media` when the request had media.
pub(crate) fn add_media_usage(usage: &mut Usage, media: &MediaUsage) {
    if !media.is_empty()
        && let Ok(value) = serde_json::to_value(media)
    {
        usage.extra.insert(MEDIA_KEY.to_owned(), value);
    }
}
