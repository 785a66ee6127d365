//! Measures the time a request spends in the gateway itself, excluding the time spent waiting for
//! the backend, and reports it as the `x-omnigate-overhead-ms` response header and the
//! `omnigate_overhead_seconds` histogram. Handlers wrap each backend call in [`time_upstream`];
//! the layer subtracts that from the total. For a stream the measure ends when the response
//! head is sent (time to first byte), which is when the header must be written.

use crate::metrics;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::response::Response;
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

/// Response header carrying the gateway's own time in milliseconds.
pub const OVERHEAD_HEADER: &str = "x-omnigate-overhead-ms";

tokio::task_local! {
    /// Nanoseconds spent waiting for backends during the current request.
    static UPSTREAM_NANOS: Arc<AtomicU64>;
}

/// Awaits `future` (a backend call) and books its duration as upstream time, not overhead.
pub async fn time_upstream<F: Future>(future: F) -> F::Output {
    let started = Instant::now();
    let output = future.await;
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let _ = UPSTREAM_NANOS.try_with(|total| total.fetch_add(nanos, Ordering::Relaxed));
    output
}

/// Adds the overhead header and histogram sample to every response.
#[derive(Clone, Copy, Default)]
pub struct OverheadLayer;

impl<S> Layer<S> for OverheadLayer {
    type Service = Overhead<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Overhead { inner }
    }
}

/// The service [`OverheadLayer`] produces.
#[derive(Clone)]
pub struct Overhead<S> {
    inner: S,
}

impl<S> Service<Request> for Overhead<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |p| metrics::route_label(p.as_str()));
        let upstream = Arc::new(AtomicU64::new(0));
        let future = UPSTREAM_NANOS.scope(upstream.clone(), self.inner.call(request));
        Box::pin(async move {
            let mut response = future.await?;
            let total = started.elapsed().as_secs_f64();
            let upstream = upstream.load(Ordering::Relaxed) as f64 / 1e9;
            let overhead = (total - upstream).max(0.0);
            metrics::record_request(route, response.status().as_u16(), overhead);
            if let Ok(value) = HeaderValue::from_str(&format!("{:.3}", overhead * 1e3)) {
                response.headers_mut().insert(OVERHEAD_HEADER, value);
            }
            Ok(response)
        })
    }
}
