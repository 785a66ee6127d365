//! `POST /v1/chat/completions`: plain JSON and server-sent-event streams.

use crate::dispatch::{self, Hedging, RequestDeadline, Served};
use crate::error::ApiError;
use crate::exchange;
use crate::extract::ApiJson;
use crate::registry::{Deployment, ModelEntry};
use crate::respond;
use crate::routes::docs::PostErrors;
use crate::state::AppState;
use crate::tenancy::admission::{self, Caller};
use crate::tenancy::stream_usage::{self, StreamUsage};
use axum::extract::State;
use axum::response::Response;
use omnigate_backend::{Answer, ChatRequest, ChatResponse, Task};
use omnigate_openapi::{ChatChunk, ChatCompletionRequest, ChatMessage, MediaLimits};
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The token counts an answer reports (decoding only its `usage` when it is relayed).
fn answer_usage(answer: &Answer<ChatResponse>) -> Option<omnigate_backend::Usage> {
    match answer {
        Answer::Built(response) => response.usage.clone(),
        Answer::Relayed(relayed) => relayed.usage(),
    }
}

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
pub fn chat_completions(
    State(state): State<AppState>,
    RequestDeadline(deadline): RequestDeadline,
    caller: Caller,
    ApiJson(request): ApiJson<ChatCompletionRequest>,
) -> impl Future<Output = Result<Response, ApiError>> {
    // Checked and taken apart before the future is made: an `async fn` keeps its arguments for
    // its whole life, and the parsed request (432 bytes) would ride in every request's future,
    // which each layer of the stack moves, long after it was taken apart.
    let asked = asked(&state, &caller, request);
    answer(state, deadline, caller, asked)
}

/// A chat request checked against its caller and its model, in the parts the answer needs.
struct Asked {
    model: Arc<ModelEntry>,
    messages: Vec<ChatMessage>,
    stream: bool,
    params: Map<String, Value>,
    /// Rare, so boxed: the future carries a pointer, not the limits.
    limits: Option<Box<MediaLimits>>,
    /// The prompt's text, for a virtual key's token estimate (0 without one).
    prompt_bytes: usize,
}

/// The checks that need no await: the caller may call the model, the model serves chat (or a
/// fallback takes the request's media), `stream_options` only with `stream`.
fn asked(
    state: &AppState,
    caller: &Caller,
    mut request: ChatCompletionRequest,
) -> Result<Asked, ApiError> {
    admission::authorize(caller, &request.model)?;
    let model = state.registry().get(&request.model)?.clone();
    exchange::asked(&model, Some(Task::Chat));
    model.require(Task::Chat)?;
    let limits = request.media_limits.take().map(Box::new);
    let (_, messages, stream, params) = request.into_params();
    // A model that lacks a modality the request carries hands it to a fallback that has it.
    let model = dispatch::for_modalities(state, model, &messages);
    if !stream && params.contains_key("stream_options") {
        return Err(ApiError::invalid(
            "`stream_options` is only allowed when `stream` is true.",
            Some("stream_options"),
        ));
    }
    let prompt_bytes = if caller.0.is_some() {
        admission::text_bytes(&messages)
    } else {
        0
    };
    Ok(Asked {
        model,
        messages,
        stream,
        params,
        limits,
        prompt_bytes,
    })
}

/// The answer: media normalized, the caller admitted, the request routed, JSON or SSE.
async fn answer(
    state: AppState,
    deadline: Option<Duration>,
    caller: Caller,
    asked: Result<Asked, ApiError>,
) -> Result<Response, ApiError> {
    let Asked {
        model,
        messages,
        stream,
        mut params,
        limits,
        prompt_bytes,
    } = asked?;
    // Scoped, so that what only the media stage needs is not kept in the future after it.
    let normalized = {
        let normalizer = state.normalizer();
        let target = model.media_target();
        exchange::media_stage(normalizer.messages(messages, target, limits.as_deref())).await?
    };
    let media = normalized.usage;
    exchange::media(&media);
    let admitted = admission::admit(state.tenancy(), &caller, &model.name, || {
        admission::charge(prompt_bytes, admission::max_tokens(&params), &media)
    })
    .await?;
    // A virtual key's stream is billed by the usage it reports: ask the upstream for it.
    let client_asked_usage = match &admitted {
        Some(_) if stream => stream_usage::ask_for_usage(&mut params),
        _ => true,
    };
    // Normalized once; each try (and each fallback model) gets a copy with its upstream name.
    let template = ChatRequest {
        model: String::new(),
        messages: normalized.messages,
        params,
    };
    let for_deployment = |deployment: &Deployment| ChatRequest {
        model: deployment.upstream_model.clone(),
        ..template.clone()
    };
    if stream {
        let served = dispatch::dispatch(
            &state,
            model,
            Task::Chat,
            deadline,
            Hedging::Never,
            |_, deployment| {
                let backend = Arc::clone(&deployment.backend);
                let request = for_deployment(deployment);
                async move { dispatch::first_event(backend.chat_stream(request).await?).await }
            },
        )
        .await?;
        let labels = served.labels();
        let name: Arc<str> = Arc::from(served.model.name.as_str());
        let Served { value, lease, .. } = served;
        let mut chunks: omnigate_backend::ChatStream = Box::pin(dispatch::hold_lease(value, lease));
        let mut admitted = admitted;
        if let Some(admitted) = admitted.as_mut() {
            let reported = Arc::new(StreamUsage::default());
            chunks = stream_usage::tap(chunks, Arc::clone(&reported), client_asked_usage);
            admitted.tokens_from(reported);
        }
        let mut response = respond::chat::stream(chunks, name, media);
        labels.apply(&mut response);
        Ok(match admitted {
            Some(admitted) => admitted.finish_stream(response),
            None => response,
        })
    } else {
        let served = dispatch::dispatch(
            &state,
            model,
            Task::Chat,
            deadline,
            Hedging::Allowed,
            |_, deployment| {
                let backend = Arc::clone(&deployment.backend);
                let request = for_deployment(deployment);
                async move { backend.chat(request).await }
            },
        )
        .await?;
        let labels = served.labels();
        exchange::answer_tokens(&served.value);
        let mut admitted = admitted;
        if let Some(admitted) = admitted.as_mut() {
            admitted.used_tokens(answer_usage(&served.value).as_ref());
        }
        let mut response =
            respond::chat::completion(served.value, served.model.name.clone(), &media)?;
        labels.apply(&mut response);
        if let Some(admitted) = admitted {
            admitted.finish(&mut response);
        }
        Ok(response)
    }
}
