//! The span of one HTTP request, the root of everything the gateway does for it. With traces
//! off it is exactly the span the log lines have always carried (`request`: method, path, id);
//! with traces on it is also an OpenTelemetry server span, named `METHOD /route`, with HTTP's
//! semantic-convention attributes, parented by the client's `traceparent` when there is one.

use super::switch::traces_on;
use super::{context, filter};
use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use std::time::Duration;
use tower_http::trace::{DefaultOnResponse, OnResponse};
use tracing::Span;
use tracing::field::Empty;

/// The request's span (`TraceLayer::make_span_with`).
#[inline]
pub fn request_span<B>(request: &Request<B>) -> Span {
    if traces_on() {
        return server_span(request);
    }
    let id = request_id(request);
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), id)
}

fn request_id<B>(request: &Request<B>) -> &str {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The request's span as an OpenTelemetry server span. Out of line and cold: the path with
/// traces off stays what it was.
#[cold]
#[inline(never)]
fn server_span<B>(request: &Request<B>) -> Span {
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    // The route, not the path, names the span: `/v1/models/{model}` is one name, not one per model.
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "request",
        method,
        path = request.uri().path(),
        id = request_id(request),
        "otel.name" = name,
        "otel.kind" = "server",
        "otel.status_code" = Empty,
        "http.request.method" = method,
        "http.route" = route,
        "url.path" = request.uri().path(),
        "http.response.status_code" = Empty,
        "user_agent.original" = request
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    context::adopt_parent(&span, request.headers());
    filter::mark_if_unsampled(&span);
    span
}

/// What tower-http logs when a response starts (its default), plus, with traces on, the status
/// on the request's span (an error status for a 5xx, as OpenTelemetry's HTTP conventions say).
#[derive(Debug, Clone, Default)]
pub struct RecordResponse(DefaultOnResponse);

impl<B> OnResponse<B> for RecordResponse {
    #[inline]
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        if traces_on() && !span.is_disabled() {
            let status = response.status();
            span.record("http.response.status_code", i64::from(status.as_u16()));
            if status.is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
        }
        self.0.on_response(response, latency, span);
    }
}
