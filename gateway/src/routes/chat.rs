//! `POST /v1/chat/completions`: plain JSON and server-sent-event streams.

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::layers::overhead::time_upstream;
use crate::respond;
use crate::routes::docs::PostErrors;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use omnigate_backend::{ChatRequest, Task};
use omnigate_openapi::{ChatChunk, ChatCompletionRequest, ChatResponse};
use std::sync::Arc;

/// Create a chat completion.
///
/// Messages may mix text with `image_url`, `input_audio`, `audio_url` and `video_url` parts
/// for models that accept them. With `"stream": true` the answer is a stream of
/// `chat.completion.chunk` events ending in `data: [DONE]`; with
/// `stream_options.include_usage` a last chunk carries the usage.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "chat",
    operation_id = "createChatCompletion",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The completion, or a stream of chunks when `stream` is true.",
            content(
                (ChatResponse = "application/json"),
                (ChatChunk = "text/event-stream"),
            )),
        PostErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(mut request): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let model = state.registry().get(&request.model)?.clone();
    model.require(Task::Chat)?;
    let limits = request.media_limits.take();
    let (public_name, messages, stream, params) = request.into_params();
    if !stream && params.contains_key("stream_options") {
        return Err(ApiError::invalid(
            "`stream_options` is only allowed when `stream` is true.",
            Some("stream_options"),
        ));
    }
    let normalized = state
        .normalizer()
        .messages(messages, model.media_target(), limits.as_ref())
        .await?;
    let media = normalized.usage;
    let deployment = model.pick()?;
    let request = ChatRequest {
        model: deployment.upstream_model.clone(),
        messages: normalized.messages,
        params,
    };
    if stream {
        let chunks = time_upstream(deployment.backend.chat_stream(request)).await?;
        Ok(respond::chat::stream(chunks, Arc::from(public_name), media))
    } else {
        let answer = time_upstream(deployment.backend.chat(request)).await?;
        respond::chat::completion(answer, public_name, &media)
    }
}
