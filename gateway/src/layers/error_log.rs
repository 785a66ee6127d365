//! Logs each failed request once, here, rather than wherever the error was made: server-side
//! failures (5xx) as warnings with their full detail, refusals (4xx) at debug. The client got
//! only the public message (`error.rs`); the detail rides on the response as [`ErrorDetail`].
//! It runs inside the request's tracing span, so each line carries the request id.

use crate::error::{ApiError, ErrorDetail};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tower::{Layer, Service};

/// Logs the error each failed response carries. A plain tower layer: no boxed future per
/// request (axum's `map_response` boxes one for every request, failed or not).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorLogLayer;

impl<S> Layer<S> for ErrorLogLayer {
    type Service = ErrorLog<S>;

    fn layer(&self, inner: S) -> ErrorLog<S> {
        ErrorLog(inner)
    }
}

/// The service [`ErrorLogLayer`] makes.
#[derive(Debug, Clone)]
pub struct ErrorLog<S>(S);

impl<S, B> Service<Request> for ErrorLog<S>
where
    S: Service<Request, Response = axum::http::Response<B>>,
{
    type Response = axum::http::Response<B>;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        Logged {
            inner: self.0.call(request),
        }
    }
}

pin_project! {
    /// A response future whose failure is logged when it completes.
    pub struct Logged<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for Logged<F>
where
    F: Future<Output = Result<axum::http::Response<B>, E>>,
{
    type Output = Result<axum::http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = ready!(self.project().inner.poll(cx));
        if let Ok(response) = &result {
            log_failure(response);
        }
        Poll::Ready(result)
    }
}

/// Logs the error a response carries, if any.
fn log_failure<B>(response: &axum::http::Response<B>) {
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        let status = response.status().as_u16();
        if response.status().is_server_error() {
            tracing::warn!(status, error = %detail, "request failed");
        } else {
            tracing::debug!(status, error = %detail, "request refused");
        }
    }
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
