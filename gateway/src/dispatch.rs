//! Routing a request: the model's deployments tried through the router (balancing, per-try
//! timeouts, retries on another deployment, the deadline), then its fallback models in order
//! when none of its deployments could answer. The answer says who served it:
//! `x-omnigate-model`, `x-omnigate-deployment` (its `name`, else its index in the model's config) and
//! `x-omnigate-attempts` (tries made, fallbacks included).

use crate::error::ApiError;
use crate::exchange::{self, ReportsTokens};
use crate::layers::overhead::time_upstream;
use crate::registry::{Deployment, ModelEntry};
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures::future::Either;
use futures::{Stream, StreamExt};
use omnigate_backend::{BackendError, Task};
use omnigate_router::{Exhausted, Gave, Lease, classify, is_context_overflow};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// A request header that shortens the deadline of one request (never beyond the model's).
pub const TIMEOUT_HEADER: &str = "x-omnigate-timeout-ms";
// Made at compile time: a lookup by `&str` parses and validates the name on every request.
const TIMEOUT_HEADER_NAME: HeaderName = HeaderName::from_static(TIMEOUT_HEADER);

/// What served a request.
pub struct Served<T> {
    /// The answer.
    pub value: T,
    /// The deployment, still leased: in flight until dropped (for a stream, when it ends).
    pub lease: Lease,
    /// The model that answered (the one asked for, or a fallback).
    pub model: Arc<ModelEntry>,
    /// Tries made, over every model tried.
    pub attempts: u32,
}

impl<T> Served<T> {
    /// The `x-omnigate-*` headers saying who served it (values made once per model and
    /// deployment at startup; the common attempt counts are static).
    pub fn labels(&self) -> Labels {
        const COUNTS: [HeaderValue; 4] = [
            HeaderValue::from_static("0"),
            HeaderValue::from_static("1"),
            HeaderValue::from_static("2"),
            HeaderValue::from_static("3"),
        ];
        let attempts = usize::try_from(self.attempts)
            .ok()
            .and_then(|n| COUNTS.get(n).cloned())
            .unwrap_or_else(|| HeaderValue::from(self.attempts));
        Labels([
            self.model.name_header().cloned(),
            self.model
                .deployments()
                .get(self.lease.index())
                .and_then(|d| d.name_header.clone()),
            Some(attempts),
        ])
    }
}

/// Who served a request, as response headers.
pub struct Labels([Option<HeaderValue>; 3]);

impl Labels {
    // Built at compile time: `from_static` at run time validates the name on every call.
    const NAMES: [HeaderName; 3] = [
        HeaderName::from_static("x-omnigate-model"),
        HeaderName::from_static("x-omnigate-deployment"),
        HeaderName::from_static("x-omnigate-attempts"),
    ];

    /// Adds them to `response`.
    pub fn apply(self, response: &mut Response) {
        let headers = response.headers_mut();
        // One growth for the three, not a rehash on the way.
        headers.reserve(Self::NAMES.len());
        for (name, value) in Self::NAMES.into_iter().zip(self.0) {
            if let Some(value) = value {
                headers.append(name, value);
            }
        }
    }
}

/// The deadline a request asked for with [`TIMEOUT_HEADER`], as an extractor that reads that
/// one header (taking a whole `HeaderMap` would copy every header of every request).
pub struct RequestDeadline(pub Option<Duration>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestDeadline {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        requested_deadline(&parts.headers).map(Self)
    }
}

/// The deadline a request asked for with [`TIMEOUT_HEADER`], if it did.
pub fn requested_deadline(headers: &HeaderMap) -> Result<Option<Duration>, ApiError> {
    let Some(value) = headers.get(TIMEOUT_HEADER_NAME) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(|ms| Some(Duration::from_millis(ms)))
        .ok_or_else(|| {
            ApiError::invalid(
                format!("`{TIMEOUT_HEADER}` must be a positive number of milliseconds."),
                Some(TIMEOUT_HEADER),
            )
        })
}

/// Whether a request may be sent twice (hedged, where the model's routing says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hedging {
    /// A whole answer: a second copy can be sent and the loser dropped.
    Allowed,
    /// A stream: its events go to the client as they come, so one copy only.
    Never,
}

/// Sends a request for `task` to `model`, then to its fallbacks: `call` makes one try on one
/// deployment (it is given the model too, whose upstream name the request must carry).
pub async fn dispatch<T, F, Fut>(
    state: &AppState,
    model: Arc<ModelEntry>,
    task: Task,
    deadline: Option<Duration>,
    hedging: Hedging,
    mut call: F,
) -> Result<Served<T>, ApiError>
where
    F: FnMut(&ModelEntry, &Deployment) -> Fut,
    Fut: Future<Output = Result<T, BackendError>>,
{
    // Neither list allocates unless a model fails and has fallbacks: the common path is one
    // model, one try.
    let mut tried: Vec<Arc<ModelEntry>> = Vec::new();
    let mut queue: Vec<Arc<ModelEntry>> = Vec::new();
    let mut current = Some(model);
    let mut attempts_made = 0;
    let mut last_error: Option<ApiError> = None;
    while let Some(model) = current.take() {
        let mut attempts = model.attempts(deadline);
        // The model's tries and queue waits open under this span (a fallback model gets its
        // own). Not wrapped around the tries' future: that would grow every request's future.
        attempts.trace_under(tracing::debug_span!(
            "dispatch",
            model = model.name.as_str(),
            fallback = !tried.is_empty()
        ));
        let try_one = |index: usize| {
            let deployment = &model.deployments()[index];
            call(&model, deployment)
        };
        // One future awaited, either kind of tries in it: two awaits, one per kind, would each
        // get room of their own in this function's future.
        let tries = match hedging {
            Hedging::Allowed => Either::Left(attempts.run_hedged(try_one)),
            Hedging::Never => Either::Right(attempts.run(try_one)),
        };
        let outcome = time_upstream(tries).await;
        attempts_made += attempts.made();
        match outcome {
            Ok((value, lease)) => {
                exchange::served(&model, lease.index(), attempts_made);
                return Ok(Served {
                    value,
                    lease,
                    model,
                    attempts: attempts_made,
                });
            }
            Err(gave) => {
                let overflow = gave.last.as_ref().is_some_and(is_context_overflow);
                let fallbacks = if overflow {
                    &model.context_window_fallbacks
                } else if gave.reason == Exhausted::Fatal {
                    // The request's own fault: another model would refuse it too.
                    exchange::gave_up(attempts_made);
                    return Err(gave_up(gave));
                } else {
                    &model.fallbacks
                };
                for name in fallbacks.iter().rev() {
                    if let Ok(fallback) = state.registry().get(name)
                        && fallback.tasks.contains(&task)
                    {
                        queue.push(Arc::clone(fallback));
                    }
                }
                if !fallbacks.is_empty() {
                    tracing::info!(model = %model.name, reason = ?gave.reason, "trying the fallback models");
                }
                last_error = Some(gave_up(gave));
                tried.push(model);
                current = next_model(&mut queue, &tried);
            }
        }
    }
    exchange::gave_up(attempts_made);
    Err(last_error.unwrap_or_else(|| ApiError::Unavailable("no model to try".to_owned())))
}

/// The model a chat request goes to: the one asked for when it takes every part of
/// `messages`, else its first fallback (serving chat) that does. With none, the model asked for
/// (whose refusal then names the part it does not take).
pub fn for_modalities(
    state: &AppState,
    model: Arc<ModelEntry>,
    messages: &[omnigate_openapi::ChatMessage],
) -> Arc<ModelEntry> {
    if model.media_target().takes_all(messages) {
        return model;
    }
    let fallback = model.fallbacks.iter().find_map(|name| {
        let candidate = state.registry().get(name).ok()?.clone();
        (candidate.tasks.contains(&Task::Chat) && candidate.media_target().takes_all(messages))
            .then_some(candidate)
    });
    match fallback {
        Some(fallback) => {
            tracing::debug!(model = %model.name, fallback = %fallback.name, "a fallback takes this request's media");
            fallback
        }
        None => model,
    }
}

/// The next model to try: the most recently queued one not tried yet.
fn next_model(
    queue: &mut Vec<Arc<ModelEntry>>,
    tried: &[Arc<ModelEntry>],
) -> Option<Arc<ModelEntry>> {
    while let Some(model) = queue.pop() {
        if !tried.iter().any(|t| Arc::ptr_eq(t, &model)) {
            return Some(model);
        }
    }
    None
}

/// The client's answer when a model could not be served.
fn gave_up(gave: Gave) -> ApiError {
    match (gave.reason, gave.last) {
        (Exhausted::Deadline(after), _) => ApiError::GatewayTimeout(after),
        (Exhausted::Saturated, _) => ApiError::RetryLater {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "Every deployment of this model is at capacity; retry later.".to_owned(),
            retry_after: Duration::from_secs(1),
        },
        (Exhausted::Unavailable(wait), None) => ApiError::RetryLater {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "No backend is available for this model right now; retry later.".to_owned(),
            retry_after: wait,
        },
        (_, Some(last)) => ApiError::from(last),
        (_, None) => ApiError::Unavailable("no deployment could be tried".to_owned()),
    }
}

/// A backend's stream whose first event has come (see [`first_event`]).
pub struct Begun<S: Stream> {
    first: S::Item,
    rest: S,
}

/// A stream from a leased deployment, its first event first: the lease is held until the
/// stream ends (so the request counts as in flight), and a failure mid-way counts against the
/// deployment's health. The request's exchange is held too: it is logged and counted when the
/// stream ends, with the tokens the stream reported. One adapter for the three jobs: each
/// adapter an event passes through moves it (a chat chunk is a few hundred bytes).
pub fn hold_lease<S, T>(begun: Begun<S>, lease: Lease) -> Held<S>
where
    S: Stream<Item = Result<T, BackendError>>,
    T: ReportsTokens,
{
    Held {
        first: Some(begun.first),
        rest: begun.rest,
        lease,
        watch: exchange::StreamWatch::current(),
    }
}

pin_project_lite::pin_project! {
    /// The stream [`hold_lease`] makes.
    pub struct Held<S: Stream> {
        first: Option<S::Item>,
        #[pin]
        rest: S,
        lease: Lease,
        watch: exchange::StreamWatch,
    }
}

impl<S, T> Stream for Held<S>
where
    S: Stream<Item = Result<T, BackendError>>,
    T: ReportsTokens,
{
    type Item = Result<T, BackendError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let item = match this.first.take() {
            Some(first) => first,
            None => match ready!(this.rest.poll_next(cx)) {
                Some(item) => item,
                None => return Poll::Ready(None),
            },
        };
        if let Err(err) = &item {
            this.lease.failed(&classify(err));
        }
        this.watch.saw(&item);
        Poll::Ready(Some(item))
    }
}

/// Waits for a stream's first event, so that a failure before it is an ordinary failed try
/// (retried elsewhere) and only a stream that has begun reaches the client.
pub async fn first_event<S, T>(mut stream: S) -> Result<Begun<S>, BackendError>
where
    S: Stream<Item = Result<T, BackendError>> + Unpin,
{
    // The wait for the first token, under the try's span (held, not wrapped around the wait:
    // see `Attempts::trace_under`).
    let span = tracing::debug_span!("first_token");
    let first = stream.next().await;
    drop(span);
    match first {
        Some(Ok(first)) => Ok(Begun {
            first: Ok(first),
            rest: stream,
        }),
        Some(Err(err)) => Err(err),
        None => Err(BackendError::BadResponse(
            "the stream ended before its first event".to_owned(),
        )),
    }
}
