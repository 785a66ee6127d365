//! Embeddings answers: relayed as the upstream wrote them (only `model` spliced), or encoded.

use crate::error::ApiError;
use crate::respond::json;
use axum::Json;
use axum::response::{IntoResponse, Response};
use omnigate_backend::{Answer, EmbeddingsResponse};

/// The answer under the model's public name.
pub fn respond(
    answer: Answer<EmbeddingsResponse>,
    public_name: String,
) -> Result<Response, ApiError> {
    match answer {
        Answer::Relayed(relayed) => Ok(json::relayed(relayed.with_model(&public_name))),
        answer => {
            let mut response = answer.into_built()?;
            response.model = public_name;
            Ok(Json(response).into_response())
        }
    }
}
