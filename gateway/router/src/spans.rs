//! The spans of a request's way through the pool: one per try (`attempt`) and one per wait for
//! a deployment with room (`queue.wait`), under the span the caller gave the request's tries
//! ([`crate::Attempts::trace_under`]). They are `debug` spans: with no subscriber that wants them
//! (the gateway's default, traces off) creating one is a cached level check, recording into it
//! does nothing and no future is wrapped, so the hot path pays nothing for them. Numbers are
//! recorded signed: OpenTelemetry's attributes have no unsigned integers, and the bridge would
//! write them as text.

use crate::pool::Lease;
use omnigate_backend::BackendError;
use std::time::Duration;
use tracing::Span;
use tracing::field::Empty;

/// A span under `parent` when it is recorded, else under whatever span is current.
macro_rules! child_span {
    ($parent:expr, $($rest:tt)+) => {
        match $parent.id() {
            Some(parent) => tracing::debug_span!(parent: parent, $($rest)+),
            None => tracing::debug_span!($($rest)+),
        }
    };
}

/// A try on `lease`'s deployment: `attempt` is 1 for the first try, 2 for the first retry...;
/// `hedge` marks a second copy sent while the first was still running. The backend may record
/// `http.response.status_code` into it (the OpenAI-compatible one does).
pub(crate) fn attempt(parent: &Span, lease: &Lease, number: u32, hedge: bool) -> Span {
    child_span!(
        parent,
        "attempt",
        deployment = lease.name(),
        attempt = i64::from(number),
        hedge,
        outcome = Empty,
        error = Empty,
        "http.response.status_code" = Empty,
        "otel.status_code" = Empty,
    )
}

/// A wait for a deployment with room: every one is at its `max_in_flight`. `queued` is how many
/// requests were waiting before this one.
pub(crate) fn queue_wait(parent: &Span, queued: usize) -> Span {
    child_span!(
        parent,
        "queue.wait",
        queued = i64::try_from(queued).unwrap_or(i64::MAX),
        outcome = Empty
    )
}

/// `tokio::time::timeout(timeout, future)`, awaited with `span` current so that what the
/// backend does (its own spans, the trace context it sends upstream) hangs under it. With the
/// span off the try is awaited exactly as it always was: a wrapper would grow every request's
/// future, which each layer of the stack moves, and cost a poll through it; with it on, the try
/// is boxed for the same reason. A macro, so each branch's future is built where it is awaited.
macro_rules! timed_try {
    ($span:expr, $timeout:expr, $future:expr) => {
        if $span.is_disabled() {
            tokio::time::timeout($timeout, $future).await
        } else {
            let traced = tracing::Instrument::instrument($future, $span.clone());
            tokio::time::timeout($timeout, Box::pin(traced)).await
        }
    };
}
pub(crate) use timed_try;

/// [`timed_try!`] without the timer: for a try its backend ends in time by itself.
macro_rules! untimed_try {
    ($span:expr, $future:expr) => {
        if $span.is_disabled() {
            $future.await
        } else {
            Box::pin(tracing::Instrument::instrument($future, $span.clone())).await
        }
    };
}
pub(crate) use untimed_try;

/// The try answered.
pub(crate) fn answered(span: &Span) {
    span.record("outcome", "ok");
}

/// The try failed with `err`.
pub(crate) fn failed(span: &Span, err: &BackendError) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", "error");
    span.record("error", tracing::field::display(err));
    span.record("otel.status_code", "ERROR");
    let status = match err {
        BackendError::RetryAfter { status, .. }
        | BackendError::Rejected { status, .. }
        | BackendError::Upstream { status, .. } => Some(*status),
        _ => None,
    };
    if let Some(status) = status {
        span.record("http.response.status_code", i64::from(status));
    }
}

/// The try ran out of its time.
pub(crate) fn timed_out(span: &Span, after: Duration) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", "timeout");
    span.record("error", tracing::field::debug(after));
    span.record("otel.status_code", "ERROR");
}
