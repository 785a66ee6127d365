//! Route registration. The same registration produces the router and the OpenAPI spec
//! (utoipa-axum), so the published spec cannot list a route that does not exist or miss one
//! that does.

pub mod audio;
pub mod chat;
pub mod embeddings;
pub mod models;
pub mod normalize;
pub mod ops;

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::Uri;
use omnigate_openapi::ApiDoc;
use std::collections::BTreeMap;
use utoipa::OpenApi;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A JSON answer relayed from an upstream as it wrote it (see `omnigate_backend::RelayedJson`).
fn relayed_json(json: bytes::Bytes) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let mut response = json.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

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

/// Error responses documented on the POST routes (bodies that may be invalid, models that may be
/// missing, upstreams that may fail).
pub struct PostErrors;

impl utoipa::IntoResponses for PostErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            (
                400,
                "The request is malformed, a field is invalid, or a media part is refused (bad base64, a forbidden URL, a modality the model does not take).",
            ),
            (401, "Missing or wrong API key."),
            (404, "The model does not exist."),
            (415, "The body is not `application/json`."),
            (
                422,
                "The model cannot process this request (e.g. it does not serve this task).",
            ),
            (429, "Too many requests in flight, here or upstream."),
            (500, "Internal error."),
            (502, "The upstream failed or answered something invalid."),
            (503, "No backend can take the request now."),
            (504, "The upstream did not answer in time."),
        ])
    }
}

/// Error responses documented on the model-listing routes.
pub struct GetErrors;

impl utoipa::IntoResponses for GetErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            (401, "Missing or wrong API key."),
            (404, "No such model."),
            (429, "Too many requests in flight."),
        ])
    }
}

fn error_responses(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorResponse")))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}
