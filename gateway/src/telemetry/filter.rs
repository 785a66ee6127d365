//! Which spans traces take, and which are not made at all.
//!
//! The trace layer's own filter ([`gateway_spans`]) takes the gateway's spans, `debug` and up
//! (the stage spans are `debug`), and its warnings and errors, which become events on their
//! span.
//!
//! At 1 % sampling, 99 requests in 100 are not recorded, yet every stage span of theirs would
//! still be made, filled and handed to OpenTelemetry only to be dropped. So the request span
//! runs the sampler as it is made and marks itself when its trace is not sampled
//! ([`mark_if_unsampled`]), and [`SkipUnsampled`], outermost in the subscriber, refuses every
//! stage span under a marked one, for every layer: refused there, a span is not even
//! allocated. (A per-layer filter cannot do this: a span that every per-layer filter refuses is
//! still made in the registry.) The request span itself stays, to carry the trace id upstream,
//! flagged unsampled, as W3C asks.

use opentelemetry::trace::TraceContextExt;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{FilterFn, LevelFilter};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanData};

/// The trace layer's filter: the gateway's spans (`debug` and up), warnings and errors.
pub(crate) fn gateway_spans() -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|meta| {
        let limit = if meta.is_span() {
            Level::DEBUG
        } else {
            Level::WARN
        };
        is_ours(meta) && *meta.level() <= limit
    })
    .with_max_level_hint(LevelFilter::DEBUG)
}

fn is_ours(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("omnigate")
}

/// A stage span: one of the gateway's `debug` spans (the request span is `info`).
fn is_stage_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && *meta.level() == Level::DEBUG && is_ours(meta)
}

/// Marks a request span whose trace is not sampled.
struct Unsampled;

/// Refuses stage spans under a request whose trace is not sampled (see the module's doc).
pub(crate) struct SkipUnsampled;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SkipUnsampled {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_stage_span(meta) {
            // Whether one is made depends on the request it is in.
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, cx: Context<'_, S>) -> bool {
        if !is_stage_span(meta) {
            return true;
        }
        !cx.lookup_current().is_some_and(|current| {
            current
                .scope()
                .any(|span| span.extensions().get::<Unsampled>().is_some())
        })
    }
}

/// Runs the sampler for `span` (a request span whose parent is set) and marks it if its trace
/// is not sampled, so nothing is made under it.
pub(crate) fn mark_if_unsampled(span: &Span) {
    if span.context().span().span_context().is_sampled() {
        return;
    }
    span.with_subscriber(|(id, subscriber)| {
        let data = subscriber
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span_data(id));
        if let Some(data) = data {
            data.extensions_mut().insert(Unsampled);
        }
    });
}
