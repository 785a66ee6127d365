//! `POST /v1/embeddings`.

use crate::dispatch::{self, Hedging, RequestDeadline};
use crate::error::ApiError;
use crate::exchange;
use crate::extract::ApiJson;
use crate::respond;
use crate::routes::docs::PostErrors;
use crate::state::AppState;
use crate::tenancy::admission::{self, Caller};
use axum::extract::State;
use axum::response::Response;
use omnigate_backend::{Answer, EmbeddingInput, Task};
use omnigate_openapi::MediaUsage;
use omnigate_openapi::{EmbeddingsInput, EmbeddingsRequest, EmbeddingsResponse};
use serde_json::Value;
use std::sync::Arc;

/// Largest number of inputs in one request (OpenAI's limit).
const MAX_INPUTS: usize = 2048;

/// Create embeddings.
///
/// One vector per input, in input order. `encoding_format: "base64"` returns little-endian
/// f32 bytes in base64 (what the OpenAI SDKs ask for by default).
#[utoipa::path(
    post,
    path = "/v1/embeddings",
    tag = "embeddings",
    operation_id = "createEmbedding",
    request_body = EmbeddingsRequest,
    responses(
        (status = 200, description = "The embeddings.", body = EmbeddingsResponse),
        PostErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn create_embeddings(
    State(state): State<AppState>,
    RequestDeadline(deadline): RequestDeadline,
    caller: Caller,
    ApiJson(request): ApiJson<EmbeddingsRequest>,
) -> Result<Response, ApiError> {
    admission::authorize(&caller, &request.model)?;
    let model = state.registry().get(&request.model)?.clone();
    exchange::asked(&model, Some(Task::Embeddings));
    model.require(Task::Embeddings)?;
    let EmbeddingsRequest {
        model: _,
        input,
        encoding_format,
        dimensions,
        user,
        extra: mut params,
    } = request;
    let input = embedding_input(input)?;
    if let Some(format) = encoding_format {
        if format != "float" && format != "base64" {
            return Err(ApiError::invalid(
                "`encoding_format` must be `float` or `base64`.",
                Some("encoding_format"),
            ));
        }
        params.insert("encoding_format".to_owned(), Value::from(format));
    }
    if let Some(user) = user {
        params.insert("user".to_owned(), Value::from(user));
    }
    if dimensions == Some(0) {
        return Err(ApiError::invalid(
            "`dimensions` must be at least 1.",
            Some("dimensions"),
        ));
    }
    let mut admitted = admission::admit(state.tenancy(), &caller, &model.name, || {
        let prompt_bytes = match &input {
            EmbeddingInput::Text(texts) => texts.iter().map(String::len).sum(),
            // Token ids: about four bytes of text each.
            EmbeddingInput::Tokens(lists) => lists.iter().map(Vec::len).sum::<usize>() * 4,
        };
        admission::charge(prompt_bytes, None, &MediaUsage::default())
    })
    .await?;
    let template = omnigate_backend::EmbeddingsRequest {
        model: String::new(),
        input,
        dimensions,
        extra: params,
    };
    let served = dispatch::dispatch(
        &state,
        model,
        Task::Embeddings,
        deadline,
        Hedging::Allowed,
        |_, deployment| {
            let backend = Arc::clone(&deployment.backend);
            let request = omnigate_backend::EmbeddingsRequest {
                model: deployment.upstream_model.clone(),
                ..template.clone()
            };
            async move { backend.embeddings(request).await }
        },
    )
    .await?;
    let labels = served.labels();
    exchange::answer_tokens(&served.value);
    if let Some(admitted) = admitted.as_mut() {
        let usage = match &served.value {
            Answer::Built(response) => Some(response.usage.clone()),
            Answer::Relayed(relayed) => relayed.usage(),
        };
        admitted.used_tokens(usage.as_ref());
    }
    let mut response = respond::embeddings::respond(served.value, served.model.name.clone())?;
    labels.apply(&mut response);
    if let Some(admitted) = admitted {
        admitted.finish(&mut response);
    }
    Ok(response)
}

fn embedding_input(input: EmbeddingsInput) -> Result<EmbeddingInput, ApiError> {
    let input = match input {
        EmbeddingsInput::One(text) => EmbeddingInput::Text(vec![text]),
        EmbeddingsInput::Many(texts) => EmbeddingInput::Text(texts),
        EmbeddingsInput::Tokens(tokens) => EmbeddingInput::Tokens(vec![tokens]),
        EmbeddingsInput::ManyTokens(lists) => EmbeddingInput::Tokens(lists),
    };
    let empty_item = match &input {
        EmbeddingInput::Text(texts) => texts.iter().any(String::is_empty),
        EmbeddingInput::Tokens(lists) => lists.iter().any(Vec::is_empty),
    };
    if input.is_empty() || empty_item {
        return Err(ApiError::invalid(
            "`input` must not be empty, nor contain an empty item.",
            Some("input"),
        ));
    }
    if input.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            format!(
                "`input` has {} items; the limit is {MAX_INPUTS}.",
                input.len()
            ),
            Some("input"),
        ));
    }
    Ok(input)
}
