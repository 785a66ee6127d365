//! Load shedding: at most N requests in flight; the next one is answered 429 at once instead of
//! queueing behind the others. A request holds its slot until its response body is finished or
//! dropped, so a long stream counts for as long as it runs (tower's `ConcurrencyLimit` would
//! free the slot when the headers are sent).

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

/// Sheds requests beyond `max_in_flight`.
#[derive(Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
    max_in_flight: usize,
}

impl ShedLayer {
    /// Allows `max_in_flight` requests at once.
    pub fn new(max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.min(Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// A reading of how many requests hold a slot, for `/metrics` (the semaphore is the count:
    /// nothing more is kept per request).
    pub fn in_flight(&self) -> InFlight {
        InFlight {
            permits: Arc::clone(&self.permits),
            max_in_flight: self.max_in_flight,
        }
    }
}

/// How many requests hold a slot of a [`ShedLayer`].
#[derive(Clone)]
pub struct InFlight {
    permits: Arc<Semaphore>,
    max_in_flight: usize,
}

impl InFlight {
    /// Requests in flight now.
    pub fn now(&self) -> usize {
        self.max_in_flight
            .saturating_sub(self.permits.available_permits())
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner,
            permits: self.permits.clone(),
        }
    }
}

/// The service [`ShedLayer`] produces.
#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

impl<S> Service<Request> for Shed<S>
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
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return Box::pin(async {
                Ok(ApiError::RateLimited(
                    "The gateway is at its concurrency limit; retry shortly.".to_owned(),
                )
                .into_response())
            });
        };
        // The clone was readied by poll_ready; keep the ready one for this call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(response.map(|body| {
                Body::new(PermitBody {
                    body,
                    _permit: permit,
                })
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A body that releases its concurrency slot when it is finished or dropped.
    struct PermitBody {
        #[pin]
        body: Body,
        _permit: OwnedSemaphorePermit,
    }
}

impl http_body::Body for PermitBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
