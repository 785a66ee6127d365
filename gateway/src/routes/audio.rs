//! `POST /v1/audio/transcriptions` and `POST /v1/audio/translations` (multipart, OpenAI's
//! fields). The uploaded file is decoded and resampled to the model's audio contract by the
//! media pipeline before the backend sees it.

use crate::dispatch::{self, Hedging};
use crate::error::ApiError;
use crate::exchange;
use crate::registry::Deployment;
use crate::respond::transcript::{self, ResponseFormat};
use crate::respond::transcript_sse;
use crate::routes::docs::PostErrors;
use crate::state::AppState;
use crate::tenancy::admission::{self, Caller};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::Response;
use bytes::Bytes;
use omnigate_backend::{Task, TranscriptionRequest};
use omnigate_openapi::{MediaUsage, TranscriptionForm, TranscriptionJson};
use std::sync::Arc;

/// Transcribe audio.
///
/// Send the file as multipart form data with the model's name. The answer's shape follows
/// `response_format`: `json` (`{"text"}`), `text`, `srt`, `vtt` or `verbose_json` (with
/// language, duration and timed segments). With `stream=true` the text arrives as server-sent
/// events while it is recognized (`transcript.text.delta`, then `transcript.text.done`).
#[utoipa::path(
    post,
    path = "/v1/audio/transcriptions",
    tag = "audio",
    operation_id = "createTranscription",
    request_body(content = TranscriptionForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The transcript, shaped by `response_format`.", body = TranscriptionJson),
        PostErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn transcriptions(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    transcribe(state, request, false).await
}

/// Translate audio into English.
///
/// Like transcriptions, but the text is English whatever the spoken language (for an
/// English-only model, the same as a transcription).
#[utoipa::path(
    post,
    path = "/v1/audio/translations",
    tag = "audio",
    operation_id = "createTranslation",
    request_body(content = TranscriptionForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The English transcript, shaped by `response_format`.", body = TranscriptionJson),
        PostErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn translations(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    transcribe(state, request, true).await
}

async fn transcribe(
    state: AppState,
    mut request: Request,
    translate: bool,
) -> Result<Response, ApiError> {
    let deadline = dispatch::requested_deadline(request.headers())?;
    let caller = Caller(request.extensions_mut().remove());
    // The upload's `parse` span (read and split into fields), held rather than wrapped around
    // the read: a wrapper would grow the request's future even with traces off.
    let parse = tracing::debug_span!("parse");
    let form = read_form(request, &state).await?;
    drop(parse);
    let model_name = form
        .model
        .ok_or_else(|| ApiError::invalid("`model` is required.", Some("model")))?;
    admission::authorize(&caller, &model_name)?;
    let model = state.registry().get(&model_name)?.clone();
    exchange::asked(&model, Some(Task::Transcription));
    model.require(Task::Transcription)?;
    let format = ResponseFormat::parse(form.response_format.as_deref())?;
    let file = form
        .file
        .ok_or_else(|| ApiError::invalid("`file` is required.", Some("file")))?;
    let normalizer = state.normalizer();
    let audio =
        exchange::media_stage(normalizer.upload(file, form.filename, model.media_target(), "file"))
            .await?;
    let audio_seconds = audio.duration_secs();
    let media = MediaUsage {
        audio_seconds,
        ..MediaUsage::default()
    };
    exchange::media(&media);
    let prompt_bytes = form.prompt.as_ref().map_or(0, String::len);
    let admitted = admission::admit(state.tenancy(), &caller, &model.name, || {
        admission::charge(prompt_bytes, None, &media)
    })
    .await?;
    let template = TranscriptionRequest {
        model: String::new(),
        audio,
        language: if translate { None } else { form.language },
        prompt: form.prompt,
        temperature: form.temperature,
        translate,
    };
    let for_deployment = |deployment: &Deployment| TranscriptionRequest {
        model: deployment.upstream_model.clone(),
        ..template.clone()
    };
    if form.stream {
        if !matches!(format, ResponseFormat::Json | ResponseFormat::Text) {
            return Err(ApiError::invalid(
                "`stream` works with `response_format` json or text.",
                Some("stream"),
            ));
        }
        let served = dispatch::dispatch(&state, model, Task::Transcription, deadline, Hedging::Never, |_, d| {
            let backend = Arc::clone(&d.backend);
            let request = for_deployment(d);
            async move { dispatch::first_event(backend.transcribe_stream(request).await?).await }
        })
        .await?;
        let labels = served.labels();
        let events = Box::pin(dispatch::hold_lease(served.value, served.lease));
        let mut response = transcript_sse::respond(events);
        labels.apply(&mut response);
        return Ok(match admitted {
            Some(admitted) => admitted.finish_stream(response),
            None => response,
        });
    }
    let served = dispatch::dispatch(
        &state,
        model,
        Task::Transcription,
        deadline,
        Hedging::Allowed,
        |_, d| {
            let backend = Arc::clone(&d.backend);
            let request = for_deployment(d);
            async move { backend.transcribe(request).await }
        },
    )
    .await?;
    let labels = served.labels();
    let mut response = transcript::respond(served.value, format, translate, audio_seconds);
    labels.apply(&mut response);
    if let Some(admitted) = admitted {
        admitted.finish(&mut response);
    }
    Ok(response)
}

#[derive(Default)]
struct Form {
    file: Option<Bytes>,
    filename: Option<String>,
    model: Option<String>,
    language: Option<String>,
    prompt: Option<String>,
    response_format: Option<String>,
    temperature: Option<f64>,
    stream: bool,
}

async fn read_form(request: Request, state: &AppState) -> Result<Form, ApiError> {
    let limit = state.settings().max_body_bytes;
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| match rejection {
            MultipartRejection::InvalidBoundary(_) => ApiError::UnsupportedMediaType(
                "Expected a `multipart/form-data` body with a boundary.".to_owned(),
            ),
            other => ApiError::invalid(other.body_text(), None),
        })?;
    let mut form = Form::default();
    let body_error = |err: axum::extract::multipart::MultipartError| {
        if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::invalid(
                format!("Malformed multipart body: {}", err.body_text()),
                None,
            )
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(body_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            form.filename = field.file_name().map(str::to_owned);
            form.file = Some(field.bytes().await.map_err(body_error)?);
            continue;
        }
        let value = field.text().await.map_err(body_error)?;
        match name.as_str() {
            "model" => form.model = Some(value),
            "language" => form.language = Some(value),
            "prompt" => form.prompt = Some(value),
            "response_format" => form.response_format = Some(value),
            "temperature" => {
                let parsed = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|t| (0.0..=1.0).contains(t));
                form.temperature = Some(parsed.ok_or_else(|| {
                    ApiError::invalid(
                        "`temperature` must be a number from 0 to 1.",
                        Some("temperature"),
                    )
                })?);
            }
            "stream" => {
                form.stream = match value.trim() {
                    "true" | "True" | "1" => true,
                    "false" | "False" | "0" | "" => false,
                    _ => {
                        return Err(ApiError::invalid(
                            "`stream` must be true or false.",
                            Some("stream"),
                        ));
                    }
                };
            }
            // Segments are what `verbose_json` carries; word timing would need alignment the
            // speech backends do not do, and an answer silently without it misleads.
            "timestamp_granularities[]" | "timestamp_granularities" => match value.trim() {
                "segment" => {}
                "word" => {
                    return Err(ApiError::invalid(
                        "Word timestamps are not available here; `timestamp_granularities[]` \
                         may only ask for `segment`.",
                        Some(name.as_str()),
                    ));
                }
                other => {
                    return Err(ApiError::invalid(
                        format!(
                            "`timestamp_granularities[]` must be `segment` or `word`, not \
                             `{other}`."
                        ),
                        Some(name.as_str()),
                    ));
                }
            },
            // chunking_strategy, include[]...: accepted, not used here.
            _ => {}
        }
    }
    Ok(form)
}
