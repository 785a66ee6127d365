//! Logs each failed request once, here, rather than wherever the error was made: server-side
//! failures (5xx) as warnings with their full detail, refusals (4xx) at debug. The client got
//! only the public message (`error.rs`); the detail rides on the response as [`ErrorDetail`].
//! It runs inside the request's tracing span, so each line carries the request id.

use crate::error::{ApiError, ErrorDetail};
use axum::response::{IntoResponse, Response};
use std::any::Any;

/// `axum::middleware::map_response` function: logs the error a response carries, if any.
pub async fn log_failure(response: Response) -> Response {
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        let status = response.status().as_u16();
        if response.status().is_server_error() {
            tracing::warn!(status, error = %detail, "request failed");
        } else {
            tracing::debug!(status, error = %detail, "request refused");
        }
    }
    response
}

/// `tower_http::catch_panic` handler: a handler that panicked (a bug: the workspace denies
/// `panic!`, `unwrap` and `expect` outside tests, but indexing and arithmetic can still panic)
/// answers a 500 in the OpenAI envelope instead of a dropped connection, and the rest of the
/// server carries on.
pub fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    ApiError::Internal(format!("a request handler panicked: {message}")).into_response()
}
