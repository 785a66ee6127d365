//! `POST /v1/embeddings`.

use crate::dispatch::{self, Hedging, RequestDeadline};
use crate::error::ApiError;
use crate::exchange;
use crate::extract::ApiJson;
use crate::media::tensors::{self, MediaInput};
use crate::registry::ModelSpec;
use crate::respond;
use crate::routes::docs::PostErrors;
use crate::state::AppState;
use crate::tenancy::admission::{self, Caller};
use axum::extract::State;
use axum::response::Response;
use omnigate_backend::{Answer, EmbeddingInput, Task, Tensor};
use omnigate_config::TensorMedia;
use omnigate_openapi::MediaUsage;
use omnigate_openapi::{
    EmbeddingsInput, EmbeddingsMediaItem, EmbeddingsRequest, EmbeddingsResponse,
};
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
    let plain = |input| checked(input).map(|input| (input, MediaUsage::default()));
    let (input, media_usage) = match input {
        EmbeddingsInput::One(one) => plain(EmbeddingInput::Text(vec![one]))?,
        EmbeddingsInput::Many(texts) => plain(EmbeddingInput::Text(texts))?,
        EmbeddingsInput::Tokens(tokens) => plain(EmbeddingInput::Tokens(vec![tokens]))?,
        EmbeddingsInput::ManyTokens(lists) => plain(EmbeddingInput::Tokens(lists))?,
        EmbeddingsInput::Media(items) => {
            let (tensor, usage) = media_tensor(&state, &model, items).await?;
            (EmbeddingInput::Media(tensor), usage)
        }
    };
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
            // Media are charged by their units (pixels, seconds, frames).
            EmbeddingInput::Media(_) => 0,
        };
        admission::charge(prompt_bytes, None, &media_usage)
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
    let mut response =
        respond::embeddings::respond(served.value, served.model.name.clone(), &media_usage)?;
    labels.apply(&mut response);
    if let Some(admitted) = admitted {
        admitted.finish(&mut response);
    }
    Ok(response)
}

/// Media to embed, made into the one tensor the model's config makes from media: each item
/// normalized by the model's contract (budgets, fetch policy, decode pool), then stacked along a
/// new first dimension, one row per item. Errors name the item (`input[i]`).
async fn media_tensor(
    state: &AppState,
    model: &ModelSpec,
    items: Vec<EmbeddingsMediaItem>,
) -> Result<(Tensor, MediaUsage), ApiError> {
    if items.is_empty() || items.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            format!("`input` must hold 1 to {MAX_INPUTS} items."),
            Some("input"),
        ));
    }
    let kind = |item: &EmbeddingsMediaItem| match item {
        EmbeddingsMediaItem::ImageUrl { .. } => TensorMedia::Image,
        EmbeddingsMediaItem::AudioUrl { .. } => TensorMedia::Audio,
        EmbeddingsMediaItem::VideoUrl { .. } => TensorMedia::Video,
    };
    let wanted = kind(&items[0]);
    if let Some(i) = items.iter().position(|item| kind(item) != wanted) {
        return Err(ApiError::invalid(
            "`input` items must all be of one kind (pictures, sounds or videos): they go to one input of the model.",
            Some(&format!("input[{i}]")),
        ));
    }
    let inputs = &model.media.tensor_inputs;
    let mut fitting = inputs.iter().filter(|(_, spec)| spec.media == wanted);
    let (name, spec) = match (fitting.next(), fitting.next()) {
        (Some(only), None) => only,
        (None, _) if inputs.is_empty() => {
            return Err(ApiError::invalid(
                format!(
                    "Model `{}` embeds text: its config makes no input from media.",
                    model.name
                ),
                Some("input"),
            ));
        }
        (None, _) => {
            return Err(ApiError::invalid(
                format!(
                    "Model `{}` makes no input from {}.",
                    model.name,
                    media_kind(wanted)
                ),
                Some("input"),
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                format!(
                    "Model `{}` makes several inputs from {}; embeddings need exactly one.",
                    model.name,
                    media_kind(wanted)
                ),
                Some("input"),
            ));
        }
    };
    let media = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| MediaInput {
            index,
            param: format!("input[{index}]"),
            name: name.clone(),
            url: match item {
                EmbeddingsMediaItem::ImageUrl { image_url } => image_url.url,
                EmbeddingsMediaItem::AudioUrl { audio_url } => audio_url.url,
                EmbeddingsMediaItem::VideoUrl { video_url } => video_url.url,
            },
            spec: spec.clone(),
        })
        .collect();
    let normalizer = state.normalizer();
    let made =
        exchange::media_stage(tensors::make(&normalizer, &model.name, &model.media, media)).await?;
    exchange::media(&made.usage);
    let rows: Vec<Tensor> = made.tensors.into_iter().map(|(_, tensor)| tensor).collect();
    Ok((stack(name, rows)?, made.usage))
}

/// One tensor of `rows` (all of one datatype and shape), with a new first dimension.
fn stack(name: &str, rows: Vec<Tensor>) -> Result<Tensor, ApiError> {
    let first = rows
        .first()
        .ok_or_else(|| ApiError::Internal("no media tensor was made".to_owned()))?;
    let (datatype, shape) = (first.datatype, first.shape.clone());
    if let Some(i) = rows.iter().position(|row| row.shape != shape) {
        return Err(ApiError::invalid(
            format!(
                "input[{i}] makes a tensor of shape {:?} and input[0] one of {shape:?}: items embedded together must normalize to one shape (give the model a fixed size, e.g. `image.tensor_size`).",
                rows[i].shape
            ),
            Some(&format!("input[{i}]")),
        ));
    }
    let mut data = Vec::with_capacity(rows.iter().map(|row| row.data.len()).sum());
    for row in &rows {
        data.extend_from_slice(&row.data);
    }
    Ok(Tensor {
        name: name.to_owned(),
        datatype,
        shape: std::iter::once(rows.len() as u64).chain(shape).collect(),
        data: data.into(),
    })
}

fn media_kind(media: TensorMedia) -> &'static str {
    match media {
        TensorMedia::Image => "pictures",
        TensorMedia::Audio => "sounds",
        TensorMedia::Video => "videos",
    }
}

/// Texts or token lists, checked: at least one, none empty, at most [`MAX_INPUTS`] (media
/// items are checked as they are made, by `media_tensor`).
fn checked(input: EmbeddingInput) -> Result<EmbeddingInput, ApiError> {
    let empty_item = match &input {
        EmbeddingInput::Text(texts) => texts.iter().any(String::is_empty),
        EmbeddingInput::Tokens(lists) => lists.iter().any(Vec::is_empty),
        EmbeddingInput::Media(_) => false,
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
