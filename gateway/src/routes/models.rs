//! `GET /v1/models` and `GET /v1/models/{model}`.

use crate::error::ApiError;
use crate::registry::ModelEntry;
use crate::routes::docs::GetErrors;
use crate::state::AppState;
use crate::tenancy::admission::{self, Caller};
use axum::Json;
use axum::extract::{Path, State};
use omnigate_openapi::{ModelList, ModelObject};

/// List models.
///
/// Every model this gateway serves, by the name to put in a request's `model`.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    operation_id = "listModels",
    responses((status = 200, description = "The models.", body = ModelList), GetErrors),
    security(("bearer" = [])),
)]
pub async fn list_models(State(state): State<AppState>, caller: Caller) -> Json<ModelList> {
    // A key sees the models it may call.
    let data = state
        .registry()
        .iter()
        .filter(|entry| admission::authorize(&caller, &entry.name).is_ok())
        .map(|entry| model_object(entry, &state))
        .collect();
    Json(ModelList {
        object: "list".to_owned(),
        data,
    })
}

/// Retrieve a model.
#[utoipa::path(
    get,
    path = "/v1/models/{model}",
    tag = "models",
    operation_id = "retrieveModel",
    params(("model" = String, Path, description = "The model's name.")),
    responses((status = 200, description = "The model.", body = ModelObject), GetErrors),
    security(("bearer" = [])),
)]
pub async fn get_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(model): Path<String>,
) -> Result<Json<ModelObject>, ApiError> {
    if admission::authorize(&caller, &model).is_err() {
        return Err(ApiError::ModelNotFound(model));
    }
    let entry = state.registry().get(&model)?.clone();
    Ok(Json(model_object(&entry, &state)))
}

fn model_object(entry: &ModelEntry, state: &AppState) -> ModelObject {
    ModelObject {
        id: entry.name.clone(),
        object: "model".to_owned(),
        created: state.started_unix(),
        owned_by: "omnigate".to_owned(),
    }
}
