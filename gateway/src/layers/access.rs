//! One [`Exchange`] per request: opened here when the request arrives (with its id, method and
//! route), given its status when the response head is ready, and finished when the last holder
//! lets go of it (here, or at the end of a stream's body). Finishing counts the request in the
//! request metrics (`metrics/requests.rs`) and writes its access-log line: one `info` event
//! with target `omnigate::access`, JSON under `log_format = "json"`.
//!
//! The line carries ids, names, statuses, durations and counts, never a header value other
//! than the request id, a body, a media payload or a key. `server.access_log = false` leaves it
//! out (so does `RUST_LOG=…,omnigate::access=off`); the metrics are kept either way.

use crate::error::ErrorCode;
use crate::exchange::{self, Exchange, Finished, Record};
use crate::metrics;
use axum::extract::{MatchedPath, Request};
use axum::http::Response;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

/// The access log's target, to filter on (`RUST_LOG=omnigate::access=off`).
pub const TARGET: &str = "omnigate::access";

/// Opens an exchange per request; `log`: whether its access-log line is written.
#[derive(Debug, Clone, Copy)]
pub struct AccessLayer {
    log: bool,
}

impl AccessLayer {
    /// Access-log lines written when `log`; metrics recorded either way.
    pub fn new(log: bool) -> Self {
        Self { log }
    }
}

impl<S> Layer<S> for AccessLayer {
    type Service = Access<S>;

    fn layer(&self, inner: S) -> Access<S> {
        Access {
            inner,
            log: self.log,
        }
    }
}

/// The service [`AccessLayer`] makes.
#[derive(Clone)]
pub struct Access<S> {
    inner: S,
    log: bool,
}

impl<S, B> Service<Request> for Access<S>
where
    S: Service<Request, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Accessed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        // What only the line needs is taken only when it is written (the filter is a cached
        // test of the callsite): copying the request id would cost an allocation.
        let log = self.log && tracing::enabled!(target: TARGET, tracing::Level::INFO);
        let record = Record {
            request_id: log
                .then(|| request.headers().get("x-request-id").cloned())
                .flatten(),
            trace_id: log.then(exchange::current_trace_id).flatten(),
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            ..Record::default()
        };
        let finish = if log { logged } else { counted };
        let exchange = Arc::new(Exchange::new(started, record, finish));
        Accessed {
            inner: exchange::scope(exchange, self.inner.call(request)),
        }
    }
}

pin_project! {
    /// A response future that gives the exchange its status once the head is ready.
    pub struct Accessed<F: Future> {
        #[pin]
        inner: TaskLocalFuture<Arc<Exchange>, F>,
    }
}

impl<F, B, E> Future for Accessed<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        let result = ready!(inner.as_mut().poll(cx));
        if let (Some(exchange), Ok(response)) = (inner.take_value(), &result) {
            let mut record = exchange.record();
            record.status = Some(response.status());
            record.error_code = response.extensions().get::<ErrorCode>().map(|c| c.0);
            record.head = Some(exchange.started().elapsed());
            // Dropping the exchange here finishes it, unless a stream's body holds it.
        }
        Poll::Ready(result)
    }
}

fn counted(finished: &Finished<'_>) {
    metrics::requests::record(finished);
}

fn logged(finished: &Finished<'_>) {
    metrics::requests::record(finished);
    log(finished);
}

/// Milliseconds with microsecond precision (`12.345`).
fn ms(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// The access-log line. Fields that do not apply to a request are left out, not written empty.
fn log(finished: &Finished<'_>) {
    let record = finished.record;
    let served = record
        .served
        .as_ref()
        .and_then(|(model, index)| Some((model, model.deployments().get(*index)?)));
    let fallback = served
        .filter(|(model, _)| {
            record
                .asked
                .as_ref()
                .is_none_or(|asked| !Arc::ptr_eq(asked, model))
        })
        .map(|(model, _)| model.name.as_str());
    let media = record.media.as_ref();
    let tried = record.attempts > 0;
    tracing::info!(
        target: TARGET,
        request_id = record.request_id.as_ref().and_then(|id| id.to_str().ok()),
        trace_id = record.trace_id.as_deref(),
        method = record.method.as_str(),
        route = record.route.as_ref().map(MatchedPath::as_str),
        model = record.asked.as_ref().map(|model| model.name.as_str()),
        served_by = fallback,
        deployment = served.map(|(_, deployment)| deployment.name.as_str()),
        // A client that left before the head: nginx's 499.
        status = record.status.map_or(499, |status| status.as_u16()),
        error_code = record.error_code,
        stream_error = record.stream_error,
        duration_ms = ms(finished.duration),
        ttfb_ms = record.head.filter(|_| record.streamed).map(ms),
        overhead_ms = record.overhead.map(ms),
        upstream_ms = tried.then(|| ms(finished.upstream)),
        media_ms = record.media_time.map(ms),
        attempts = tried.then_some(record.attempts),
        input_tokens = record.tokens.map(|tokens| tokens.prompt_tokens),
        output_tokens = record
            .tokens
            .filter(|_| record.operation == Some(omnigate_backend::Task::Chat))
            .map(|tokens| tokens.completion_tokens),
        images = media.map(|m| m.images).filter(|n| *n > 0),
        image_pixels = media.map(|m| m.image_pixels).filter(|n| *n > 0),
        audio_seconds = media.map(|m| m.audio_seconds).filter(|s| *s > 0.0),
        video_frames = media.map(|m| m.video_frames).filter(|n| *n > 0),
        "request"
    );
}
