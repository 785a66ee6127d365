//! The error responses each route group documents in the OpenAPI spec, all in the
//! `ErrorResponse` envelope.

use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};

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
            (
                401,
                "Missing or wrong API key, or a key that is disabled or expired.",
            ),
            (
                403,
                "The key may not call this model (`model_not_allowed`).",
            ),
            (404, "The model does not exist."),
            (415, "The body is not `application/json`."),
            (
                422,
                "The model cannot process this request (e.g. it does not serve this task).",
            ),
            (
                429,
                "Too many requests in flight, here or upstream; or a key's limit (`rate_limit_exceeded`, with `x-ratelimit-*` and `retry-after`) or spent budget (`insufficient_quota`).",
            ),
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

/// Error responses documented on the admin routes.
pub struct AdminErrors;

impl utoipa::IntoResponses for AdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            (401, "Missing or wrong key."),
            (403, "The key is not an admin key."),
        ])
    }
}

/// Error responses documented on the key and usage routes.
pub struct KeyAdminErrors;

impl utoipa::IntoResponses for KeyAdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            (400, "A field is invalid."),
            (401, "Missing or wrong key."),
            (403, "The key is not an admin key."),
            (404, "No such key."),
            (
                409,
                "The key is declared in the config file; change it there.",
            ),
            (503, "The state store is unavailable."),
        ])
    }
}

pub(crate) fn error_responses(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
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
