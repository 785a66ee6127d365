//! W3C trace context across the gateway's edges: a client's `traceparent` (and `tracestate`)
//! becomes the parent of the request's span, and the current span's context goes out to
//! upstream backends (through `omnigate_backend::trace_context`). Parsing and writing are
//! OpenTelemetry's `TraceContextPropagator`.

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The request's headers, as the propagator reads them.
struct Incoming<'a>(&'a HeaderMap);

impl Extractor for Incoming<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Makes the client's trace, if its request carries a `traceparent`, the parent of `span`
/// (which must not have been entered yet). With parent-based sampling, the client's decision
/// then holds here too.
pub(crate) fn adopt_parent(span: &tracing::Span, headers: &HeaderMap) {
    // A name made at compile time: looking up a `&str` parses it on every request.
    const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Incoming(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when the span is disabled or already started: then it keeps its own root.
        let _ = span.set_parent(parent);
    }
}

/// The headers written for an upstream call.
struct Outgoing<'a>(&'a mut dyn FnMut(&'static str, String));

impl Injector for Outgoing<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes exactly these two; the backend takes them as static names.
        let name = match key {
            "traceparent" => "traceparent",
            "tracestate" => "tracestate",
            _ => return,
        };
        (self.0)(name, value);
    }
}

/// The current span's trace context as headers (installed into `omnigate_backend::trace_context`
/// while traces are recorded). A span not sampled still propagates its trace id, flagged as
/// not sampled, as W3C asks.
pub(crate) fn inject_current(add: &mut dyn FnMut(&'static str, String)) {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return;
    }
    TraceContextPropagator::new().inject_context(&context, &mut Outgoing(add));
}

/// The current span's trace id, when it belongs to a trace being recorded (sampled).
pub(crate) fn sampled_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    (span_context.is_valid() && span_context.is_sampled())
        .then(|| span_context.trace_id().to_string())
}
