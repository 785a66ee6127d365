//! Continuous batching for the embedded chat model: one worker thread owns the model and runs
//! one step at a time over every active sequence. A new request joins at the next step (its
//! whole prompt is prefilled in the same forward pass that decodes one token for each running
//! sequence); a finished, timed-out or abandoned one leaves at once, freeing its place.
//!
//! Limits, from the deployment's [`BatchLimits`]:
//! - `max_batch_size`: sequences generating at once; more wait in the queue.
//! - `max_batch_tokens`: prompt tokens prefilled in one step (a single longer prompt still
//!   runs, alone among newcomers), so a burst of long prompts cannot stall the running
//!   streams for long.
//! - `queue_capacity`: requests waiting beyond this many are refused with 429.
//! - `max_queue_delay`: how long an idle worker waits for company after a first request
//!   arrives before starting its prefill.
//! - `wedged_after`: a single step running longer marks the worker unhealthy.
//!
//! Deadlines are the gateway's: its request deadline and per-try timeout drop the call, and a
//! caller that goes away (deadline passed, client disconnected, stream dropped) is noticed
//! before the next step, its sequence dropped and its place freed.

use crate::worker_thread;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Instant;

use omnigate_backend::BackendError;
use omnigate_smollm2::{KvCache, Sampler, Sampling, SmolLm, StepInput, TextStream};
use tokio::sync::mpsc as async_mpsc;

use crate::batcher::BatchLimits;
use crate::stop::StopScan;
use crate::worker_health::WorkerHealth;

/// What one request asks of the generator.
#[derive(Debug, Clone)]
pub(crate) struct Generation {
    /// The prompt's token ids.
    pub prompt: Vec<u32>,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// How to pick tokens.
    pub sampling: Sampling,
    /// Texts that end the reply (not included in it).
    pub stop: Vec<String>,
}

/// Why a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// The model ended its turn, or a stop text appeared.
    Stop,
    /// `max_tokens` or the context ran out.
    Length,
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// What the worker sends back as it generates.
#[derive(Debug)]
pub(crate) enum Event {
    /// More text of the reply.
    Text(String),
    /// The reply is complete.
    Done {
        /// Why it ended.
        finish: Finish,
        /// Prompt length in tokens.
        prompt_tokens: usize,
        /// Tokens generated (a stop text's tokens included, the end-of-turn token not).
        completion_tokens: usize,
    },
    /// Generation failed.
    Failed(BackendError),
}

struct Job {
    generation: Generation,
    events: async_mpsc::UnboundedSender<Event>,
    enqueued: Instant,
}

/// The handle requests go through; dropping it stops the worker after its step.
pub(crate) struct Generator {
    name: String,
    capacity: usize,
    queue: SyncSender<Job>,
    health: Arc<WorkerHealth>,
}

impl Generator {
    /// Starts the worker thread, which loads the model with `load`; returns once it is loaded.
    pub async fn start<L>(name: &str, limits: BatchLimits, load: L) -> Result<Self, BackendError>
    where
        L: FnOnce() -> Result<SmolLm, BackendError> + Send + 'static,
    {
        let (queue, jobs) = mpsc::sync_channel(limits.queue_capacity.max(1));
        let health = WorkerHealth::new(name, limits.wedged_after);
        let worker_health = Arc::clone(&health);
        let model_name = name.to_owned();
        let lifeline = Lifeline(Arc::clone(&health));
        worker_thread::start(name, lifeline, load, move |model, _: &Lifeline| {
            Worker {
                name: model_name,
                model,
                limits,
                active: Vec::new(),
            }
            .run(&jobs, &worker_health);
        })
        .await?;
        Ok(Self {
            name: name.to_owned(),
            capacity: limits.queue_capacity,
            queue,
            health,
        })
    }

    /// Whether the worker can take requests.
    pub fn health(&self) -> Result<(), BackendError> {
        self.health.check()
    }

    /// Queues `generation`; its events arrive on the returned receiver. Dropping the receiver
    /// stops the generation at the next step. A full queue is a 429 at once.
    pub fn submit(
        &self,
        generation: Generation,
    ) -> Result<async_mpsc::UnboundedReceiver<Event>, BackendError> {
        self.health.check()?;
        let (events, receiver) = async_mpsc::unbounded_channel();
        let job = Job {
            generation,
            events,
            enqueued: Instant::now(),
        };
        self.queue.try_send(job).map_err(|e| match e {
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
        Ok(receiver)
    }
}

/// Marks the worker dead however its thread ends; queued jobs' senders are dropped with the
/// queue, so their callers see the stream end without `Done` (reported as "worker stopped").
struct Lifeline(Arc<WorkerHealth>);

impl Drop for Lifeline {
    fn drop(&mut self) {
        self.0.thread_ended();
    }
}

/// One sequence being generated.
struct Active {
    job: Job,
    cache: KvCache,
    sampler: Sampler,
    /// Tokens to feed at the next step: the prompt at first, then the last sampled token.
    pending: Vec<u32>,
    generated: usize,
    text: TextStream,
    stop: StopScan,
}

struct Worker {
    name: String,
    model: SmolLm,
    limits: BatchLimits,
    active: Vec<Active>,
}

impl Worker {
    fn run(mut self, jobs: &Receiver<Job>, health: &WorkerHealth) {
        loop {
            // Abandoned sequences leave first, so their places go to whoever is queued.
            self.drop_abandoned();
            if self.active.is_empty() {
                // Idle: wait for a request, then briefly for company.
                let Ok(first) = jobs.recv() else { return };
                let deadline = first.enqueued + self.limits.max_queue_delay;
                self.admit(first);
                while self.active.len() < self.limits.max_batch_size {
                    let now = Instant::now();
                    match jobs.recv_timeout(deadline.saturating_duration_since(now)) {
                        Ok(job) => self.admit(job),
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            } else {
                // Running: whoever is queued joins now, within the prefill budget.
                let mut prefill: usize = self
                    .active
                    .iter()
                    .filter(|a| a.generated == 0)
                    .map(|a| a.pending.len())
                    .sum();
                while self.active.len() < self.limits.max_batch_size
                    && prefill < self.limits.max_batch_tokens
                {
                    match jobs.try_recv() {
                        Ok(job) => {
                            prefill += job.generation.prompt.len();
                            self.admit(job);
                        }
                        Err(_) => break,
                    }
                }
            }
            self.drop_abandoned();
            if self.active.is_empty() {
                continue;
            }
            let busy = health.busy();
            let step = catch_unwind(AssertUnwindSafe(|| self.step()));
            drop(busy);
            match step {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.fail_all(&e),
                Err(_) => {
                    tracing::error!(model = %self.name, "the model panicked in a step");
                    self.fail_all(&BackendError::Internal(
                        "the model failed on this step".into(),
                    ));
                }
            }
        }
    }

    fn admit(&mut self, job: Job) {
        metrics::histogram!("omnigate_embedded_queue_seconds", "model" => self.name.clone())
            .record(job.enqueued.elapsed().as_secs_f64());
        let sampler = Sampler::new(job.generation.sampling);
        let stop = StopScan::new(job.generation.stop.clone());
        self.active.push(Active {
            pending: job.generation.prompt.clone(),
            job,
            cache: KvCache::default(),
            sampler,
            generated: 0,
            text: TextStream::default(),
            stop,
        });
    }

    /// Drops sequences whose caller has gone.
    fn drop_abandoned(&mut self) {
        self.active.retain(|a| !a.job.events.is_closed());
    }

    fn fail_all(&mut self, error: &BackendError) {
        for a in self.active.drain(..) {
            let e = match error {
                BackendError::Internal(m) => BackendError::Internal(m.clone()),
                other => BackendError::Internal(other.to_string()),
            };
            let _ = a.job.events.send(Event::Failed(e));
        }
    }

    /// One forward pass over every active sequence, then one token sampled for each.
    fn step(&mut self) -> Result<(), BackendError> {
        let started = Instant::now();
        let mut inputs: Vec<StepInput<'_>> = self
            .active
            .iter_mut()
            .map(|a| StepInput {
                tokens: &a.pending,
                cache: &mut a.cache,
            })
            .collect();
        let logits = self
            .model
            .llama
            .forward(&mut inputs)
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        drop(inputs);
        metrics::histogram!("omnigate_embedded_batch_size", "model" => self.name.clone())
            .record(self.active.len() as f64);
        metrics::histogram!("omnigate_embedded_batch_seconds", "model" => self.name.clone())
            .record(started.elapsed().as_secs_f64());
        let context = self.model.llama.config().context;
        let tokenizer = &self.model.tokenizer;
        let mut finished = Vec::new();
        for (index, (a, logits)) in self.active.iter_mut().zip(logits).enumerate() {
            let token = a.sampler.sample(&logits);
            let prompt_tokens = a.job.generation.prompt.len();
            let done = |finish, generated| Event::Done {
                finish,
                prompt_tokens,
                completion_tokens: generated,
            };
            if tokenizer.ends_turn(token) {
                send_text(&a.job.events, a.stop.finish());
                let _ = a.job.events.send(done(Finish::Stop, a.generated));
                finished.push(index);
                continue;
            }
            a.generated += 1;
            let piece = a
                .text
                .push(tokenizer, token)
                .map_err(|e| BackendError::Internal(e.to_string()))?;
            let (text, stopped) = a.stop.push(&piece);
            if !text.is_empty() && a.job.events.send(Event::Text(text)).is_err() {
                finished.push(index); // the caller is gone
                continue;
            }
            if stopped {
                let _ = a.job.events.send(done(Finish::Stop, a.generated));
                finished.push(index);
            } else if a.generated >= a.job.generation.max_tokens || a.cache.len() + 1 >= context {
                send_text(&a.job.events, a.stop.finish());
                let _ = a.job.events.send(done(Finish::Length, a.generated));
                finished.push(index);
            } else {
                a.pending = vec![token];
            }
        }
        for index in finished.into_iter().rev() {
            self.active.swap_remove(index);
        }
        Ok(())
    }
}

/// Sends `text` unless it is empty.
fn send_text(events: &async_mpsc::UnboundedSender<Event>, text: String) {
    if !text.is_empty() {
        let _ = events.send(Event::Text(text));
    }
}
