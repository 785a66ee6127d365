//! Whether a model's worker thread can take work: alive (a guard owned by the thread, the
//! batcher's `Lifeline`, clears the flag however the thread ends, a panic that escapes
//! included) and not wedged (one batch running longer than the deployment's `wedged_after`).
//! Read with atomics only, so `/ready` and every request can ask without a round trip to the
//! thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use omnigate_backend::BackendError;

/// The worker's state as the request side sees it.
#[derive(Debug)]
pub(crate) struct WorkerHealth {
    name: String,
    alive: AtomicBool,
    /// When the running batch began, in microseconds since `epoch` plus one (0: idle).
    busy_since: AtomicU64,
    epoch: Instant,
    wedged_after: Duration,
}

impl WorkerHealth {
    pub(crate) fn new(name: &str, wedged_after: Duration) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            alive: AtomicBool::new(true),
            busy_since: AtomicU64::new(0),
            epoch: Instant::now(),
            wedged_after,
        })
    }

    /// Ok when the worker can take a request; otherwise why not, as a 503.
    pub(crate) fn check(&self) -> Result<(), BackendError> {
        if !self.alive.load(Ordering::Acquire) {
            return Err(self.stopped());
        }
        let since = self.busy_since.load(Ordering::Acquire);
        if since > 0 {
            let started = self.epoch + Duration::from_micros(since - 1);
            let running = started.elapsed();
            if running > self.wedged_after {
                return Err(BackendError::Unavailable(format!(
                    "model `{}` worker is wedged: one batch has run for {} s",
                    self.name,
                    running.as_secs()
                )));
            }
        }
        Ok(())
    }

    /// The error for a worker that is gone.
    pub(crate) fn stopped(&self) -> BackendError {
        BackendError::Unavailable(format!("model `{}` worker has stopped", self.name))
    }

    /// Marks the worker dead (its thread is unwinding; its lifeline will say the same).
    pub(crate) fn mark_dead(&self) {
        self.alive.store(false, Ordering::Release);
    }

    /// Whether the worker thread is still running.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Marks the worker dead for good, from its own thread as it ends; a death is logged as an
    /// error, a shutdown (every handle dropped) is not.
    pub(crate) fn thread_ended(&self) {
        self.mark_dead();
        if std::thread::panicking() {
            tracing::error!(model = %self.name, "model worker thread died");
        } else {
            tracing::debug!(model = %self.name, "model worker thread stopped");
        }
    }

    /// Marks a batch as running until the returned guard is dropped.
    pub(crate) fn busy(&self) -> Busy<'_> {
        let since = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1) + 1;
        self.busy_since.store(since, Ordering::Release);
        Busy(self)
    }
}

/// A running batch; idle again when dropped.
pub(crate) struct Busy<'a>(&'a WorkerHealth);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy_since.store(0, Ordering::Release);
    }
}
