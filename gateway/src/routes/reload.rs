//! `POST /admin/reload`: reads the config file again and swaps it in (the same as `SIGHUP`).

use crate::error::ApiError;
use crate::reload::ReloadError;
use crate::routes::docs::error_responses;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use omnigate_openapi::ReloadResult;
use std::collections::BTreeMap;
use utoipa::openapi::{RefOr, Response};

/// Reload the config.
///
/// Reads the config file again and, if all of it is valid and every deployment it names can be
/// built, serves it from now on: models and deployments added, removed or re-weighted; keys,
/// teams and prices taken. Requests in flight finish on the config they started with, and
/// deployments that did not change keep their connections (and an embedded model its loaded
/// weights). A config that does not load changes nothing: the answer is a 400 naming the key.
#[utoipa::path(
    post,
    path = "/admin/reload",
    tag = "admin",
    operation_id = "reloadConfig",
    responses(
        (status = 200, description = "The reloaded config is serving.", body = ReloadResult),
        ReloadErrors,
    ),
    security(("admin" = [])),
)]
pub async fn reload(State(state): State<AppState>) -> Result<Json<ReloadResult>, ApiError> {
    match state.reload().await {
        Ok(report) => {
            let changes = report.changes;
            Ok(Json(ReloadResult {
                object: "config.reload".to_owned(),
                added_models: changes.added,
                removed_models: changes.removed,
                built_deployments: changes.built,
                kept_deployments: changes.kept,
                restart_required: report
                    .restart_required
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            }))
        }
        Err(ReloadError::NoSource) => Err(ApiError::Conflict(
            "This gateway was not started from a config file it can read again.".to_owned(),
        )),
        Err(err) => {
            tracing::error!(%err, "the config did not reload; keeping the running one");
            Err(ApiError::InvalidConfig(err.to_string()))
        }
    }
}

/// Error responses of the reload route.
struct ReloadErrors;

impl utoipa::IntoResponses for ReloadErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            (
                400,
                "The config does not load (the message names the key); the running one keeps serving.",
            ),
            (401, "Missing or wrong key."),
            (403, "The key is not an admin key."),
            (409, "The gateway was not started from a config file."),
        ])
    }
}
