//! Embeddings answers: relayed as the upstream wrote them (`model`, and `usage.media` when the
//! inputs were media, spliced in), or encoded.

use crate::error::ApiError;
use crate::respond::json;
use crate::respond::media_usage::{add_media_usage, encode_media, splice};
use axum::Json;
use axum::response::{IntoResponse, Response};
use omnigate_backend::{Answer, EmbeddingsResponse};
use omnigate_openapi::MediaUsage;

/// The answer under the model's public name, with what its media cost.
pub fn respond(
    answer: Answer<EmbeddingsResponse>,
    public_name: String,
    media: &MediaUsage,
) -> Result<Response, ApiError> {
    let media_json = encode_media(media)?;
    let answer = match answer {
        Answer::Relayed(relayed) => match splice(&relayed, &public_name, media_json.as_deref()) {
            Some(bytes) => return Ok(json::relayed(bytes)),
            None => Answer::Relayed(relayed),
        },
        answer => answer,
    };
    let mut response = answer.into_built()?;
    response.model = public_name;
    add_media_usage(&mut response.usage, media);
    Ok(Json(response).into_response())
}
