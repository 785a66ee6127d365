//! One request as the access log and the request metrics see it: an [`Exchange`] the access
//! layer (`layers/access.rs`) opens when the request arrives and the code on the request's path
//! fills in as it learns things (the model asked for, the deployment that answered, the tokens
//! and media it used, the time spent waiting for backends). It is finished — logged once and
//! counted once — when the last holder lets go of it: the access layer, as the response head
//! leaves, or the body of a stream, when the stream ends or the client goes away.
//!
//! Handlers reach the current exchange through a task-local, so nothing on their signatures
//! changes; outside a request (tests that call a handler directly) every call here does nothing.

use crate::error::ApiError;
use crate::registry::ModelEntry;
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Method, StatusCode};
use omnigate_backend::{
    Answer, BackendError, ChatChunk, ChatResponse, EmbeddingsResponse, Task, TokenCounts,
    TranscriptionEvent,
};
use omnigate_openapi::MediaUsage;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    static CURRENT: Arc<Exchange>;
}

/// One request, from its arrival until its last byte.
pub struct Exchange {
    started: Instant,
    /// Nanoseconds spent waiting for backends (added to by concurrent hedged tries too).
    upstream_nanos: AtomicU64,
    record: Mutex<Record>,
    /// Called once, when the exchange is dropped.
    finish: fn(&Finished<'_>),
}

/// What is known of a request, filled in as it goes.
#[derive(Default)]
pub struct Record {
    /// The `x-request-id` it carried or was given.
    pub request_id: Option<HeaderValue>,
    /// The trace it belongs to, when one is being recorded ([`current_trace_id`]).
    pub trace_id: Option<String>,
    /// Its method.
    pub method: Method,
    /// The route it matched (`None`: no route).
    pub route: Option<MatchedPath>,
    /// The model it asked for, once found in the registry.
    pub asked: Option<Arc<ModelEntry>>,
    /// What it asked the model to do (`None` for requests no backend serves).
    pub operation: Option<Task>,
    /// The model (the one asked for, or a fallback) and deployment that answered.
    pub served: Option<(Arc<ModelEntry>, usize)>,
    /// Tries made, over every model tried.
    pub attempts: u32,
    /// The response's status; `None` until the head is ready (and for ever if the client left
    /// before it was).
    pub status: Option<StatusCode>,
    /// omnigate's error code when the status says it failed.
    pub error_code: Option<&'static str>,
    /// The error code of a stream that failed after its head was sent.
    pub stream_error: Option<&'static str>,
    /// When the response head was ready, from the request's arrival (for a stream: its first
    /// event had come, so this is its time to first token).
    pub head: Option<Duration>,
    /// Whether the body is a stream that outlives the handler.
    pub streamed: bool,
    /// The gateway's own time until the head, backends excluded (`/v1` routes).
    pub overhead: Option<Duration>,
    /// Time spent fetching and decoding the request's media.
    pub media_time: Option<Duration>,
    /// The tokens the backend reported.
    pub tokens: Option<TokenCounts>,
    /// What the request's media cost (`None` when it had none).
    pub media: Option<MediaUsage>,
}

/// A finished exchange, as its `finish` function sees it.
pub struct Finished<'a> {
    /// Everything recorded.
    pub record: &'a Record,
    /// From arrival to the last byte (or to the client leaving).
    pub duration: Duration,
    /// Time spent waiting for backends.
    pub upstream: Duration,
}

impl Exchange {
    /// An exchange for a request that arrived at `started`; `finish` runs once it is dropped.
    pub fn new(started: Instant, record: Record, finish: fn(&Finished<'_>)) -> Self {
        Self {
            started,
            upstream_nanos: AtomicU64::new(0),
            record: Mutex::new(record),
            finish,
        }
    }

    /// When the request arrived.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time spent waiting for backends so far.
    pub fn upstream(&self) -> Duration {
        Duration::from_nanos(self.upstream_nanos.load(Ordering::Relaxed))
    }

    /// The record, to fill in.
    pub fn record(&self) -> MutexGuard<'_, Record> {
        // A panic while it was held left a record that is still worth logging.
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add_upstream(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.upstream_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let duration = self.started.elapsed();
        let upstream = Duration::from_nanos(*self.upstream_nanos.get_mut());
        let record = self
            .record
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        (self.finish)(&Finished {
            record,
            duration,
            upstream,
        });
    }
}

/// Runs `future` (the rest of the request's handling) with `exchange` as the current one.
pub fn scope<F: Future>(exchange: Arc<Exchange>, future: F) -> TaskLocalFuture<Arc<Exchange>, F> {
    CURRENT.scope(exchange, future)
}

/// The current request's exchange, to keep past the handler (a stream's body).
pub fn current() -> Option<Arc<Exchange>> {
    CURRENT.try_with(Arc::clone).ok()
}

fn update(fill: impl FnOnce(&mut Record)) {
    let _ = CURRENT.try_with(|exchange| fill(&mut exchange.record()));
}

/// The trace the current span belongs to, as 32 lowercase hex digits, when a trace is being
/// recorded (exported and sampled): every access-log line then carries the id that finds its
/// trace. One atomic load when traces are off.
pub fn current_trace_id() -> Option<String> {
    crate::telemetry::current_trace_id()
}

/// The request asked for `model`, to do `operation` (`None`: a request no backend serves).
pub fn asked(model: &Arc<ModelEntry>, operation: Option<Task>) {
    update(|record| {
        record.asked = Some(Arc::clone(model));
        record.operation = operation;
    });
}

/// Deployment `deployment` of `model` answered, after `attempts` tries in all.
pub fn served(model: &Arc<ModelEntry>, deployment: usize, attempts: u32) {
    update(|record| {
        record.served = Some((Arc::clone(model), deployment));
        record.attempts = attempts;
    });
}

/// No deployment answered, after `attempts` tries in all.
pub fn gave_up(attempts: u32) {
    update(|record| record.attempts = attempts);
}

/// What the request's media cost.
pub fn media(usage: &MediaUsage) {
    if !usage.is_empty() {
        update(|record| record.media = Some(usage.clone()));
    }
}

/// `future` (fetching and decoding the request's media), its duration booked as media time.
pub fn media_stage<F: Future>(future: F) -> Timed<F> {
    Timed::new(future, |elapsed| {
        update(|record| record.media_time = Some(record.media_time.unwrap_or_default() + elapsed));
    })
}

/// `future` (a backend call), its duration booked as upstream time.
pub fn time_upstream<F: Future>(future: F) -> Timed<F> {
    Timed::new(future, |elapsed| {
        let _ = CURRENT.try_with(|exchange| exchange.add_upstream(elapsed));
    })
}

pin_project_lite::pin_project! {
    /// A future whose time from its first poll to its end is booked by `book`. A struct, not an
    /// `async fn`: an async wrapper keeps its argument and the future it awaits side by side,
    /// twice the size of what it wraps, and every caller's future carries and moves that room
    /// (the chat route's dispatch future was 3.7 KB with two of them).
    pub struct Timed<F> {
        #[pin]
        future: F,
        started: Option<Instant>,
        book: fn(Duration),
    }
}

impl<F> Timed<F> {
    fn new(future: F, book: fn(Duration)) -> Self {
        Self {
            future,
            started: None,
            book,
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let started = *this.started.get_or_insert_with(Instant::now);
        let output = std::task::ready!(this.future.poll(cx));
        (this.book)(started.elapsed());
        Poll::Ready(output)
    }
}

/// Time the current request spent waiting for backends, if it is being recorded.
pub fn upstream_time() -> Option<Duration> {
    CURRENT.try_with(|exchange| exchange.upstream()).ok()
}

/// The gateway's own time for the current request (the overhead layer's measure).
pub fn overhead(overhead: Duration) {
    update(|record| record.overhead = Some(overhead));
}

/// The tokens an answer reports.
pub fn answer_tokens(answer: &impl ReportsTokens) {
    if let Some(tokens) = answer.tokens() {
        update(|record| record.tokens = Some(tokens));
    }
}

/// Something that may carry a backend's token counts.
pub trait ReportsTokens {
    /// Its counts, if it carries them.
    fn tokens(&self) -> Option<TokenCounts>;
}

impl ReportsTokens for Answer<ChatResponse> {
    fn tokens(&self) -> Option<TokenCounts> {
        match self {
            Self::Built(response) => response.usage.as_ref().map(counts),
            Self::Relayed(relayed) => relayed.token_counts(),
        }
    }
}

impl ReportsTokens for Answer<EmbeddingsResponse> {
    fn tokens(&self) -> Option<TokenCounts> {
        match self {
            Self::Built(response) => Some(counts(&response.usage)),
            Self::Relayed(relayed) => relayed.token_counts(),
        }
    }
}

impl ReportsTokens for Answer<ChatChunk> {
    fn tokens(&self) -> Option<TokenCounts> {
        match self {
            Self::Built(chunk) => chunk.usage.as_ref().map(counts),
            // Only the usage chunk has an object there: one flag test per chunk.
            Self::Relayed(relayed) if relayed.has_usage_object() => relayed.token_counts(),
            Self::Relayed(_) => None,
        }
    }
}

impl ReportsTokens for TranscriptionEvent {
    fn tokens(&self) -> Option<TokenCounts> {
        None
    }
}

fn counts(usage: &omnigate_backend::Usage) -> TokenCounts {
    TokenCounts {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
    }
}

/// The current exchange as a stream's body holds it: kept open until the stream ends (its last
/// holder lets go), and told the tokens the stream's events report and the failure that ends
/// it, if one does.
pub struct StreamWatch(Option<Arc<Exchange>>);

impl StreamWatch {
    /// The current request's exchange, marked as streamed (none outside a request).
    pub fn current() -> Self {
        let exchange = current();
        if let Some(exchange) = &exchange {
            exchange.record().streamed = true;
        }
        Self(exchange)
    }

    /// Notes one event on its way to the client.
    pub fn saw<T: ReportsTokens>(&self, item: &Result<T, BackendError>) {
        let Some(exchange) = &self.0 else {
            return;
        };
        match item {
            Ok(event) => {
                if let Some(tokens) = event.tokens() {
                    exchange.record().tokens = Some(tokens);
                }
            }
            Err(err) => {
                exchange.record().stream_error = Some(ApiError::from(err.clone()).code());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::AtomicUsize;

    static FINISHED: AtomicUsize = AtomicUsize::new(0);

    fn count(finished: &Finished<'_>) {
        assert_eq!(finished.record.attempts, 2);
        assert_eq!(finished.record.tokens.map(|t| t.completion_tokens), Some(5));
        assert_eq!(finished.record.stream_error, Some("upstream_timeout"));
        FINISHED.fetch_add(1, Ordering::SeqCst);
    }

    #[tokio::test]
    async fn a_stream_keeps_the_exchange_open_until_it_ends_and_notes_what_it_saw() {
        let exchange = Arc::new(Exchange::new(Instant::now(), Record::default(), count));
        let stream = scope(Arc::clone(&exchange), async {
            gave_up(2);
            let usage = omnigate_backend::Usage {
                prompt_tokens: 3,
                completion_tokens: 5,
                total_tokens: 8,
                extra: Default::default(),
            };
            let chunk: ChatChunk = serde_json::from_value(serde_json::json!({
                "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": []
            }))
            .unwrap();
            let events = vec![
                Ok(Answer::Built(ChatChunk {
                    usage: Some(usage),
                    ..chunk
                })),
                Err(BackendError::Timeout(Duration::from_secs(1))),
            ];
            let watch = StreamWatch::current();
            futures::stream::iter(events).map(move |item| {
                watch.saw(&item);
                item
            })
        })
        .await;
        drop(exchange);
        assert_eq!(
            FINISHED.load(Ordering::SeqCst),
            0,
            "the stream still holds it"
        );
        let seen: Vec<_> = stream.collect().await;
        assert_eq!(seen.len(), 2);
        assert_eq!(
            FINISHED.load(Ordering::SeqCst),
            1,
            "finished once, at the end"
        );
    }

    #[tokio::test]
    async fn outside_a_request_nothing_is_recorded_and_nothing_breaks() {
        asked_nothing();
        assert!(current().is_none());
        assert_eq!(upstream_time(), None);
        assert_eq!(time_upstream(async { 7 }).await, 7);
    }

    fn asked_nothing() {
        gave_up(1);
        media(&MediaUsage {
            images: 1,
            ..MediaUsage::default()
        });
        overhead(Duration::from_millis(1));
    }
}
