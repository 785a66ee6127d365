//! JSON bodies: an upstream's bytes relayed as written, or a value encoded here.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;

/// Headers an answer gets on its way out: its content type, the three `x-omnigate-*` routing
/// labels, the overhead header, `x-request-id` and `content-length` (seven), with room for a
/// few more. A map made with room for them all grows no more: the default one holds six and
/// was rehashed into a larger one on every answer.
const ANSWER_HEADERS: usize = 12;

/// A response with `body` and `content_type`, its header map sized for what the layers add.
pub(crate) fn answer(body: Body, content_type: &'static str) -> Response {
    let mut response = Response::new(body);
    let mut headers = HeaderMap::with_capacity(ANSWER_HEADERS);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    *response.headers_mut() = headers;
    response
}

/// A JSON answer relayed from an upstream as it wrote it (see `omnigate_backend::RelayedJson`).
pub fn relayed(json: Bytes) -> Response {
    answer(Body::from(json), "application/json")
}
