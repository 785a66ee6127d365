//! Route registration. The same registration produces the router and the OpenAPI spec
//! (utoipa-axum), so the published spec cannot list a route that does not exist or miss one
//! that does.

pub mod admin_keys;
pub mod audio;
pub mod chat;
pub mod deployments;
pub mod docs;
pub mod embeddings;
pub mod fleet;
pub mod infer;
pub mod models;
pub mod normalize;
pub mod ops;
pub mod reload;
pub mod usage;

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::Uri;
use omnigate_openapi::ApiDoc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The authenticated, load-shed `/v1` API.
pub fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(chat::chat_completions))
        .routes(routes!(embeddings::create_embeddings))
        .routes(routes!(models::list_models))
        .routes(routes!(models::get_model))
        .routes(routes!(normalize::normalize))
        .routes(routes!(audio::transcriptions))
        .routes(routes!(audio::translations))
        .routes(routes!(infer::model_infer))
}

/// Operators' views: admin keys, never shed.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(deployments::list_deployments))
        .routes(routes!(fleet::list_workers))
        .routes(routes!(admin_keys::create_key, admin_keys::list_keys))
        .routes(routes!(
            admin_keys::get_key,
            admin_keys::update_key,
            admin_keys::delete_key
        ))
        .routes(routes!(usage::get_usage))
        .routes(routes!(reload::reload))
}

/// Probes: never authenticated, never shed.
pub fn ops_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
}

/// The whole spec, as registered.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = v1_routes().split_for_parts();
    let (_, ops) = ops_routes().split_for_parts();
    spec.merge(ops);
    let (_, admin) = admin_routes().split_for_parts();
    spec.merge(admin);
    spec
}

/// Unknown paths answer 404 in the OpenAI envelope.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_owned())
}

/// Known paths with the wrong method answer 405 in the OpenAI envelope.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
