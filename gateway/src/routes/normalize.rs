//! `POST /v1/normalize`: what the backend would receive for a chat request's media, without
//! calling the backend. A debugging aid for app developers.

use crate::error::ApiError;
use crate::exchange;
use crate::extract::ApiJson;
use crate::routes::docs::PostErrors;
use crate::state::AppState;
use crate::tenancy::admission::{self, Caller};
use axum::Json;
use axum::extract::State;
use omnigate_openapi::{ChatCompletionRequest, NormalizeResponse};

/// Normalize a request's media.
///
/// Takes the same body as `POST /v1/chat/completions` and applies the model's media contract to
/// every image, audio and video part: fetched, decoded, oriented, resized, resampled and sampled
/// exactly as for a completion. Answers, per item, the source format, the original size or
/// duration, what was applied and the output size, rate or frame timestamps. The backend is not
/// called.
#[utoipa::path(
    post,
    path = "/v1/normalize",
    tag = "media",
    operation_id = "normalizeMedia",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "What the backend would receive.", body = NormalizeResponse),
        PostErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn normalize(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut request): ApiJson<ChatCompletionRequest>,
) -> Result<Json<NormalizeResponse>, ApiError> {
    admission::authorize(&caller, &request.model)?;
    let model = state.registry().get(&request.model)?.clone();
    // Logged with its model and media; no backend serves it, so no model metrics.
    exchange::asked(&model, None);
    let limits = request.media_limits.take();
    let (public_name, messages, _, _) = request.into_params();
    let normalizer = state.normalizer();
    let normalized =
        exchange::media_stage(normalizer.messages(messages, model.media_target(), limits.as_ref()))
            .await?;
    exchange::media(&normalized.usage);
    Ok(Json(NormalizeResponse {
        model: public_name,
        items: normalized.items,
        media: normalized.usage,
    }))
}
