//! JSON bodies: an upstream's bytes relayed as written, or a value encoded here.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

/// A JSON answer relayed from an upstream as it wrote it (see `omnigate_backend::RelayedJson`).
pub fn relayed(json: Bytes) -> Response {
    let mut response = json.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
