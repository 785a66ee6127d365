//! Dynamic batching: requests for one model queue up and a dedicated worker thread runs them
//! together, up to a batch size, a token budget or a queueing delay.
//!
//! The model lives on its own OS thread (loaded there, never moved): burn's CPU kernels are
//! blocking and long, and running them on the async executor would stall every other request.
//! The queue is bounded; a full queue answers [`BackendError::Overloaded`] (HTTP 429) at once,
//! so a burst costs callers a retry instead of unbounded memory and latency.

use crate::worker_thread;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use omnigate_backend::BackendError;
use tokio::sync::oneshot;
use tracing::Span;

use crate::worker_health::WorkerHealth;

/// When a batch closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most requests in one batch.
    pub max_batch_size: usize,
    /// Most cost units (tokens, audio windows...) in one batch; a single larger request still
    /// runs, alone.
    pub max_batch_tokens: usize,
    /// Longest a request waits for company once the worker is free.
    pub max_queue_delay: Duration,
    /// Requests waiting beyond this many are refused.
    pub queue_capacity: usize,
    /// Longest one batch may run before the worker is reported wedged (unhealthy: `/ready`
    /// fails and new requests are refused at once instead of queueing behind it). It does not
    /// cancel the batch.
    pub wedged_after: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_batch_size: 32,
            max_batch_tokens: 16_384,
            max_queue_delay: Duration::from_millis(2),
            queue_capacity: 256,
            wedged_after: Duration::from_secs(120),
        }
    }
}

/// A model that runs batches on the worker thread.
pub trait BatchModel: 'static {
    /// One request's input.
    type Input: Send + 'static;
    /// One request's answer.
    type Output: Send + 'static;
    /// What an input costs against [`BatchLimits::max_batch_tokens`].
    fn cost(input: &Self::Input) -> usize;
    /// Runs a batch; one result per input, in order.
    fn run(&mut self, inputs: Vec<Self::Input>) -> Vec<Result<Self::Output, BackendError>>;
}

struct Job<I, O> {
    input: I,
    cost: usize,
    enqueued: Instant,
    reply: Reply<O>,
    /// The caller's span, parent of the `embedded.batch` span the worker opens for it
    /// (`Span::none()` when nothing records debug spans).
    caller: Span,
}

/// What the worker's queue carries. Without `fault-injection` this is a job and nothing else
/// (one variant: no tag, the same size as a job, no allocation).
enum Message<I, O> {
    /// A request to run.
    Work(Job<I, O>),
    /// A fault to act out. It rides the same queue as requests so it is acted out in their
    /// order, by the worker thread itself.
    #[cfg(feature = "fault-injection")]
    Fault(crate::Fault),
}

/// A batch gathered, and the message that closed it without joining (the next batch's first
/// job, or a fault), to handle next.
type Gathered<I, O> = (Vec<Job<I, O>>, Option<Message<I, O>>);

/// The handle requests go through; dropping every clone stops the worker after its batch.
pub struct Batcher<I, O> {
    name: String,
    capacity: usize,
    queue: SyncSender<Message<I, O>>,
    health: Arc<WorkerHealth>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            capacity: self.capacity,
            queue: self.queue.clone(),
            health: Arc::clone(&self.health),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the worker thread, which first runs `load` (so the model is built on the thread
    /// that owns it), and returns once loading finished, with its error if it failed.
    pub async fn start<M, L>(name: &str, limits: BatchLimits, load: L) -> Result<Self, BackendError>
    where
        M: BatchModel<Input = I, Output = O>,
        L: FnOnce() -> Result<M, BackendError> + Send + 'static,
    {
        let (queue, jobs) = mpsc::sync_channel(limits.queue_capacity.max(1));
        let model_name = name.to_owned();
        let health = WorkerHealth::new(name, limits.wedged_after);
        let worker_health = Arc::clone(&health);
        // However the thread ends, requests and probes learn it at once, and requests still
        // queued are answered.
        let lifeline = Lifeline {
            health: Arc::clone(&health),
            jobs,
        };
        worker_thread::start(
            name,
            lifeline,
            load,
            move |model: M, lifeline: &Lifeline<I, O>| {
                work(&model_name, model, &lifeline.jobs, limits, &worker_health);
            },
        )
        .await?;
        Ok(Self {
            name: name.to_owned(),
            capacity: limits.queue_capacity,
            queue,
            health,
        })
    }

    /// Whether the worker can take requests: Unavailable when its thread has died or one batch
    /// has run past `wedged_after`. Atomics only; cheap enough for every request.
    pub fn health(&self) -> Result<(), BackendError> {
        self.health.check()
    }

    /// Queues `fault` for the worker to act out after the requests already queued (tests of
    /// health and readiness). Never blocks: a fault that finds the queue full or the worker
    /// gone is logged and dropped.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub fn inject_fault(&self, fault: crate::Fault) {
        if self.queue.try_send(Message::Fault(fault)).is_err() {
            tracing::warn!(model = %self.name, ?fault, "the fault could not be queued");
        }
    }

    /// Queues `input` and waits for its answer. Dropping the future withdraws the request: the
    /// worker skips inputs whose caller is gone.
    pub async fn call(&self, input: I, cost: usize) -> Result<O, BackendError> {
        // A dead or wedged worker answers at once, rather than after the queue.
        self.health.check()?;
        let (reply, answer) = oneshot::channel();
        let reply = Reply(Some(reply), Arc::clone(&self.health));
        // Only looked up when some subscriber may want debug spans (traces on): a level check.
        let caller = if tracing::level_enabled!(tracing::Level::DEBUG) {
            Span::current()
        } else {
            Span::none()
        };
        let job = Job {
            input,
            cost,
            enqueued: Instant::now(),
            reply,
            caller,
        };
        self.queue.try_send(Message::Work(job)).map_err(|e| match e {
            TrySendError::Full(_) => {
                metrics::counter!("omnigate_embedded_rejected_total", "model" => self.name.clone())
                    .increment(1);
                BackendError::Overloaded(format!(
                    "model `{}` has {} requests queued; retry shortly",
                    self.name, self.capacity
                ))
            }
            TrySendError::Disconnected(_) => self.health.stopped(),
        })?;
        answer.await.map_err(|_| {
            if self.health.is_alive() {
                BackendError::Internal(format!("model `{}` dropped a request", self.name))
            } else {
                // The worker died with this request queued or running.
                self.health.stopped()
            }
        })?
    }
}

/// Where one request's answer goes. If the worker thread dies before answering (a panic
/// unwinding through the worker loop with the request in hand, or the request still queued
/// when the [`Lifeline`] drains the queue), the caller is told the worker stopped (a 503), not
/// that its request vanished.
struct Reply<O>(
    Option<oneshot::Sender<Result<O, BackendError>>>,
    Arc<WorkerHealth>,
);

impl<O> Reply<O> {
    fn send(mut self, answer: Result<O, BackendError>) {
        if let Some(sender) = self.0.take() {
            let _ = sender.send(answer);
        }
    }

    fn is_closed(&self) -> bool {
        self.0.as_ref().is_none_or(oneshot::Sender::is_closed)
    }
}

impl<O> Drop for Reply<O> {
    fn drop(&mut self) {
        let Some(sender) = self.0.take() else { return };
        // Dropped unanswered on the worker thread while it unwinds: the thread is dying, so say
        // so before the caller can ask again (its lifeline will say the same).
        if std::thread::panicking() {
            self.1.mark_dead();
        }
        if !self.1.is_alive() {
            let _ = sender.send(Err(self.1.stopped()));
        }
        // Otherwise the caller withdrew, or the queue was full and the caller got the 429:
        // nobody is waiting.
    }
}

/// Owned by the worker thread, so it is dropped however the thread ends: a return, or a panic
/// that escapes the loop. The worker is marked dead first, so calls stop queueing, then every
/// request still queued is dropped, which answers it "worker has stopped" (see [`Reply`])
/// rather than leaving it waiting on a queue nobody reads.
struct Lifeline<I, O> {
    health: Arc<WorkerHealth>,
    jobs: Receiver<Message<I, O>>,
}

impl<I, O> Drop for Lifeline<I, O> {
    fn drop(&mut self) {
        self.health.thread_ended();
        while let Ok(message) = self.jobs.try_recv() {
            drop(message);
        }
    }
}

/// The worker loop: take a batch, run it, answer, until every handle is dropped.
fn work<M: BatchModel>(
    name: &str,
    mut model: M,
    jobs: &Receiver<Message<M::Input, M::Output>>,
    limits: BatchLimits,
    health: &WorkerHealth,
) {
    // A wedge injected for the next batch.
    #[cfg(feature = "fault-injection")]
    let mut wedge: Option<Duration> = None;
    let mut carried: Option<Message<M::Input, M::Output>> = None;
    loop {
        let message = match carried.take() {
            Some(message) => message,
            None => match jobs.recv() {
                Ok(message) => message,
                Err(_) => return,
            },
        };
        match message {
            Message::Work(first) => {
                let (batch, next) = gather(first, jobs, limits);
                carried = next;
                #[cfg(feature = "fault-injection")]
                if let Some(how_long) = wedge.take() {
                    // Busy, as a forward pass that hangs would be, with the batch waiting.
                    let _busy = health.busy();
                    std::thread::sleep(how_long);
                }
                run_batch(name, &mut model, batch, health);
            }
            #[cfg(feature = "fault-injection")]
            Message::Fault(fault) => wedge = act_out(fault),
        }
    }
}

/// Acts out an injected fault: KillWorker panics here, outside any `catch_unwind`, so the
/// thread really dies (as it would on a bug outside a batch) and only its [`Lifeline`] can
/// tell; Wedge is handed back for the next batch to hang on.
#[cfg(feature = "fault-injection")]
#[expect(
    clippy::panic,
    reason = "KillWorker is a deliberate, test-only death of the worker thread"
)]
fn act_out(fault: crate::Fault) -> Option<Duration> {
    match fault {
        crate::Fault::KillWorker => panic!("injected fault: the worker thread dies"),
        crate::Fault::Wedge(how_long) => Some(how_long),
    }
}

/// Collects company for `first`: whatever is queued, and what arrives before its delay runs
/// out, within the size and token limits. A job that would overflow the token budget is
/// handed back to start the next batch; so is a fault, to be acted out in queue order.
fn gather<I, O>(
    first: Job<I, O>,
    jobs: &Receiver<Message<I, O>>,
    limits: BatchLimits,
) -> Gathered<I, O> {
    // Measured from the first request's arrival: under load it has already waited for the
    // previous batch, and then only what is queued right now joins it.
    let deadline = first.enqueued + limits.max_queue_delay;
    let mut tokens = first.cost;
    let mut batch = vec![first];
    while batch.len() < limits.max_batch_size {
        let now = Instant::now();
        let message = if now >= deadline {
            match jobs.try_recv() {
                Ok(message) => message,
                Err(_) => break,
            }
        } else {
            match jobs.recv_timeout(deadline - now) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        };
        match message {
            Message::Work(next) => {
                if tokens + next.cost > limits.max_batch_tokens {
                    return (batch, Some(Message::Work(next)));
                }
                tokens += next.cost;
                batch.push(next);
            }
            #[cfg(feature = "fault-injection")]
            fault @ Message::Fault(_) => return (batch, Some(fault)),
        }
    }
    (batch, None)
}

fn run_batch<M: BatchModel>(
    name: &str,
    model: &mut M,
    batch: Vec<Job<M::Input, M::Output>>,
    health: &WorkerHealth,
) {
    let started = Instant::now();
    // Callers that went away (client disconnected, deadline passed) cost nothing.
    let (inputs, replies): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .filter(|job| !job.reply.is_closed())
        .map(|job| {
            let waited = started.saturating_duration_since(job.enqueued);
            metrics::histogram!("omnigate_embedded_queue_seconds", "model" => name.to_owned())
                .record(waited.as_secs_f64());
            // Each request's share of the batch, in its own trace: from the batch's start to
            // its answer. None for a caller without a span: on this thread it would be a root.
            let span = if job.caller.is_disabled() {
                Span::none()
            } else {
                tracing::debug_span!(
                    parent: &job.caller,
                    "embedded.batch",
                    model = name,
                    batch_size = tracing::field::Empty,
                    queue_delay_ms = waited.as_secs_f64() * 1e3,
                )
            };
            (job.input, (job.reply, span))
        })
        .unzip();
    if inputs.is_empty() {
        return;
    }
    let size = inputs.len();
    for (_, span) in &replies {
        // Signed: OpenTelemetry has no unsigned attributes.
        span.record("batch_size", size as i64);
    }
    // Busy only while the model computes: the answers below go out to a worker that is
    // already free again.
    let busy = health.busy();
    let outputs = catch_unwind(AssertUnwindSafe(|| model.run(inputs)));
    drop(busy);
    let elapsed = started.elapsed();
    metrics::histogram!("omnigate_embedded_batch_size", "model" => name.to_owned())
        .record(size as f64);
    metrics::histogram!("omnigate_embedded_batch_seconds", "model" => name.to_owned())
        .record(elapsed.as_secs_f64());
    tracing::debug!(
        model = name,
        batch_size = size,
        elapsed_ms = elapsed.as_secs_f64() * 1e3,
        "batch done"
    );
    match outputs {
        Ok(outputs) if outputs.len() == size => {
            for ((reply, _span), output) in replies.into_iter().zip(outputs) {
                reply.send(output);
            }
        }
        Ok(outputs) => {
            let message = format!("model returned {} results for {size} inputs", outputs.len());
            for (reply, _span) in replies {
                reply.send(Err(BackendError::Internal(message.clone())));
            }
        }
        Err(_) => {
            tracing::error!(model = name, batch_size = size, "model panicked on a batch");
            for (reply, _span) in replies {
                reply.send(Err(BackendError::Internal(
                    "the model failed on this batch".into(),
                )));
            }
        }
    }
}

#[cfg(test)]
#[path = "batcher_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "batcher_health_tests.rs"]
mod health_tests;

#[cfg(test)]
#[path = "batcher_span_tests.rs"]
mod span_tests;
