//! Measures the time a request spends in the gateway itself, excluding the time spent waiting for
//! the backend, and reports it as the `x-omnigate-overhead-ms` response header, the
//! `omnigate_overhead_seconds` histogram and the access log's `overhead_ms`. Handlers wrap each
//! backend call in [`time_upstream`], which books it on the request's exchange (`exchange.rs`,
//! opened by the access layer outside this one); the layer subtracts that from the total. For
//! a stream the measure ends when the response head is sent (time to first byte), which is
//! when the header must be written.

use crate::exchange;
use crate::metrics;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use futures::future::BoxFuture;
use std::task::{Context, Poll};
use std::time::Instant;
use tower::{Layer, Service};

pub use crate::exchange::time_upstream;

/// Response header carrying the gateway's own time in milliseconds.
pub const OVERHEAD_HEADER: &str = "x-omnigate-overhead-ms";
// Made at compile time: inserting by `&str` parses and validates the name on every answer.
const OVERHEAD_HEADER_NAME: HeaderName = HeaderName::from_static(OVERHEAD_HEADER);

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
            .map_or(metrics::Route::UNMATCHED, |p| metrics::route_of(p.as_str()));
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            let total = started.elapsed();
            let upstream = exchange::upstream_time().unwrap_or_default();
            let own = total.saturating_sub(upstream);
            exchange::overhead(own);
            let overhead = own.as_secs_f64();
            metrics::record_request(route, response.status().as_u16(), overhead);
            response
                .headers_mut()
                .insert(OVERHEAD_HEADER_NAME, millis_header(overhead));
            Ok(response)
        })
    }
}

/// `seconds` as milliseconds with three decimals (`0.042`), written with integer arithmetic:
/// the float formatter cost more than the rest of this layer.
fn millis_header(seconds: f64) -> HeaderValue {
    // `as` saturates, and NaN becomes 0.
    let micros = (seconds * 1e6).round() as u64;
    let mut whole = itoa::Buffer::new();
    let whole = whole.format(micros / 1000).as_bytes();
    let fraction = micros % 1000;
    // u64 has at most 20 digits: room for them, the point and three decimals.
    let mut text = [0u8; 24];
    let point = whole.len();
    text[..point].copy_from_slice(whole);
    text[point] = b'.';
    text[point + 1] = b'0' + (fraction / 100) as u8;
    text[point + 2] = b'0' + (fraction / 10 % 10) as u8;
    text[point + 3] = b'0' + (fraction % 10) as u8;
    HeaderValue::from_bytes(&text[..point + 4]).unwrap_or(HeaderValue::from_static("0.000"))
}

#[cfg(test)]
mod tests {
    use super::millis_header;

    #[test]
    fn overhead_is_written_in_milliseconds_with_three_decimals() {
        for (seconds, text) in [
            (0.0, "0.000"),
            (0.000_042_1, "0.042"),
            (0.000_000_4, "0.000"),
            (0.000_999_6, "1.000"),
            (0.012_345, "12.345"),
            (1.5, "1500.000"),
            (f64::NAN, "0.000"),
            (-1.0, "0.000"),
            (f64::INFINITY, "18446744073709551.615"),
        ] {
            assert_eq!(millis_header(seconds), text, "{seconds}");
        }
    }
}
