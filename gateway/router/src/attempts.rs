//! One request's way through its model's pool: try, and on a failure a retry can fix, try
//! another deployment, within the per-try timeout, the overall deadline, the attempt limit and
//! the model's retry budget; back off (with jitter) only when it must come back to a deployment
//! it already tried.

use crate::backoff::Backoff;
use crate::classify::{Failure, FailureClass, classify, timed_out};
use crate::pool::{Lease, NoEndpoint, Pool};
use crate::spans;
use omnigate_backend::BackendError;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Span;

/// Why a request could not be (or no longer be) tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// The overall deadline passed.
    Deadline(Duration),
    /// Every deployment is ejected or cooling down; the soonest is back after this long.
    Unavailable(Duration),
    /// Every deployment is full, and so is the queue (or the wait ran out).
    Saturated,
    /// The attempt limit or the retry budget is spent.
    NoMoreTries,
    /// The last failure is the request's own: retrying elsewhere would not help.
    Fatal,
}

/// The end of a request that did not succeed: why, and the last try's error, if any.
#[derive(Debug)]
pub struct Gave {
    /// Why it stopped.
    pub reason: Exhausted,
    /// The last try's error.
    pub last: Option<BackendError>,
    /// Tries made.
    pub attempts: u32,
}

/// One try: the leased deployment and how long the try may take.
#[derive(Debug)]
pub struct Attempt {
    /// The deployment.
    pub lease: Lease,
    /// 1 for the first try.
    pub number: u32,
    /// The per-try timeout, shortened to what is left of the deadline.
    pub timeout: Duration,
}

/// One request's tries.
#[derive(Debug)]
pub struct Attempts {
    pool: Arc<Pool>,
    tried: Vec<usize>,
    made: u32,
    deadline: Instant,
    total: Duration,
    backoff: Backoff,
    /// The span tries and queue waits open under (see [`Attempts::trace_under`]).
    span: Span,
}

impl Attempts {
    /// Tries of one request through `pool`; `deadline` (e.g. from a request header) may only
    /// shorten the model's own.
    pub fn new(pool: Arc<Pool>, deadline: Option<Duration>) -> Self {
        let retry = &pool.policy().retry;
        let total = deadline.map_or(retry.deadline, |asked| asked.min(retry.deadline));
        let backoff = Backoff::new(retry.backoff_base, retry.backoff_max);
        // One clock reading for the budget and the deadline (a read is ~30 ns on a VM).
        let now = Instant::now();
        pool.budget.deposit_at(now);
        Self {
            deadline: now + total,
            total,
            backoff,
            tried: Vec::with_capacity(2),
            made: 0,
            pool,
            span: Span::none(),
        }
    }

    /// Opens the spans of this request's tries and queue waits under `span` (without one, under
    /// whatever span is current when they open).
    pub fn trace_under(&mut self, span: Span) {
        self.span = span;
    }

    /// Tries made so far.
    pub fn made(&self) -> u32 {
        self.made
    }

    /// The span tries open under.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The model's pool.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The end of the request, for `reason`.
    pub(crate) fn gave(&self, reason: Exhausted, last: Option<BackendError>) -> Gave {
        Gave {
            reason,
            last,
            attempts: self.made,
        }
    }

    /// A hedge: a try on a deployment this request has not tried, now, if the attempt limit
    /// and the retry budget allow one and such a deployment is free.
    pub(crate) fn hedge_attempt(&mut self) -> Option<Attempt> {
        let retry = &self.pool.policy().retry;
        let now = Instant::now();
        if self.made >= retry.max_attempts || now >= self.deadline {
            return None;
        }
        let lease = self.pool.acquire(&self.tried).ok()?;
        if self.tried.contains(&lease.index()) || !self.pool.budget.withdraw() {
            return None;
        }
        let timeout = retry.per_try_timeout.min(self.deadline - now);
        self.made += 1;
        self.tried.push(lease.index());
        Some(Attempt {
            lease,
            number: self.made,
            timeout,
        })
    }

    /// The next try, or why there is none.
    pub async fn next(&mut self) -> Result<Attempt, Exhausted> {
        let (max_attempts, per_try_timeout) = {
            let retry = &self.pool.policy().retry;
            (retry.max_attempts, retry.per_try_timeout)
        };
        if self.made > 0 {
            if self.made >= max_attempts {
                return Err(Exhausted::NoMoreTries);
            }
            if !self.pool.budget.withdraw() {
                tracing::warn!("retry budget spent: not retrying");
                return Err(Exhausted::NoMoreTries);
            }
        }
        let (lease, now) = self.lease().await?;
        self.made += 1;
        if !self.tried.contains(&lease.index()) {
            self.tried.push(lease.index());
        }
        Ok(Attempt {
            lease,
            number: self.made,
            timeout: per_try_timeout.min(self.deadline - now),
        })
    }

    /// A lease, and the clock's reading when it was taken (before the deadline).
    async fn lease(&mut self) -> Result<(Lease, Instant), Exhausted> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Exhausted::Deadline(self.total));
        }
        // The common case, a deployment this request has not tried with room, without the
        // waits: their timers and wake-up registration would make every try's future several
        // times larger (and that future is moved by each caller).
        match self.pool.acquire_at(&self.tried, now) {
            Ok(lease) if !self.tried.contains(&lease.index()) => Ok((lease, now)),
            Err(NoEndpoint::Unavailable(wait)) => Err(Exhausted::Unavailable(wait)),
            looked => {
                let lease = Box::pin(self.lease_after_waiting(looked)).await?;
                // The wait may have used up what was left of the deadline.
                let now = Instant::now();
                if now >= self.deadline {
                    return Err(Exhausted::Deadline(self.total));
                }
                Ok((lease, now))
            }
        }
    }

    /// [`Attempts::lease`] when `looked` (the first look) found only a deployment already tried
    /// or every one full.
    async fn lease_after_waiting(
        &mut self,
        looked: Result<Lease, NoEndpoint>,
    ) -> Result<Lease, Exhausted> {
        let mut looked = Some(looked);
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(Exhausted::Deadline(self.total));
            }
            // Registered before looking, so a lease freed in between is not missed (a first
            // look that found every deployment full is why we are here: look again).
            let freed = self.pool.freed.notified();
            let looked = match looked.take() {
                Some(Err(NoEndpoint::Full)) | None => self.pool.acquire(&self.tried),
                Some(first) => first,
            };
            match looked {
                Ok(lease) if self.tried.contains(&lease.index()) => {
                    // Back to one already tried: wait first, without holding its slot.
                    drop(lease);
                    let wait = self.backoff.next_wait().min(self.deadline - now);
                    tokio::time::sleep(wait).await;
                    return match self.pool.acquire(&[]) {
                        Ok(lease) => Ok(lease),
                        Err(NoEndpoint::Full) => Err(Exhausted::Saturated),
                        Err(NoEndpoint::Unavailable(wait)) => Err(Exhausted::Unavailable(wait)),
                    };
                }
                Ok(lease) => return Ok(lease),
                Err(NoEndpoint::Unavailable(wait)) => return Err(Exhausted::Unavailable(wait)),
                Err(NoEndpoint::Full) => {
                    let policy = self.pool.policy();
                    let queued = self.pool.queued.fetch_add(1, Ordering::Relaxed);
                    let _unqueue = Unqueue(&self.pool);
                    if queued >= policy.max_queued {
                        return Err(Exhausted::Saturated);
                    }
                    let until = self.deadline.min(now + policy.queue_timeout);
                    let span = spans::queue_wait(&self.span, queued);
                    let waited = tokio::time::timeout_at(until, freed).await;
                    span.record(
                        "outcome",
                        if waited.is_ok() { "freed" } else { "saturated" },
                    );
                    if waited.is_err() {
                        return Err(Exhausted::Saturated);
                    }
                }
            }
        }
    }

    /// Records a failed try; whether the request may be tried again.
    pub fn failed(&mut self, mut lease: Lease, err: &BackendError) -> bool {
        let failure = classify(err);
        self.record(&mut lease, &failure)
    }

    /// Records a try that ran out of time; whether the request may be tried again.
    pub fn timed_out(&mut self, mut lease: Lease, after: Duration) -> bool {
        self.record(&mut lease, &timed_out(after))
    }

    fn record(&mut self, lease: &mut Lease, failure: &Failure) -> bool {
        lease.failed(failure);
        tracing::debug!(deployment = lease.name(), attempt = self.made, error = %failure.summary, "try failed");
        failure.class != FailureClass::Fatal
    }

    /// Runs `call` (given the leased deployment's index) until one try succeeds or no more
    /// may be made. On success the lease comes back, still counting the request as in flight
    /// (for a stream, drop it when the stream ends), with the number of tries made.
    pub fn run<T, F, Fut>(&mut self, call: F) -> impl Future<Output = Result<(T, Lease), Gave>>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        self.tries(call, false)
    }

    /// [`Attempts::run`]; `whole`: each call's future ends with the whole answer (not a
    /// stream's first event), so a backend that bounds its calls (`Backend::call_timeout`)
    /// ends it in time by itself and the try needs no timer of the router's (each costs a
    /// timer-wheel entry, ~700 instructions a request).
    pub(crate) async fn tries<T, F, Fut>(
        &mut self,
        mut call: F,
        whole: bool,
    ) -> Result<(T, Lease), Gave>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let mut last = None;
        loop {
            let attempt = match self.next().await {
                Ok(attempt) => attempt,
                Err(reason) => return Err(self.gave(reason, last)),
            };
            let Attempt {
                mut lease,
                timeout,
                number,
            } = attempt;
            let span = spans::attempt(&self.span, &lease, number, false);
            let outcome = if whole && lease.ends_within(timeout) {
                Ok(spans::untimed_try!(span, call(lease.index())))
            } else {
                spans::timed_try!(span, timeout, call(lease.index()))
            };
            match outcome {
                Ok(Ok(value)) => {
                    spans::answered(&span);
                    lease.succeeded();
                    return Ok((value, lease));
                }
                Ok(Err(err)) => {
                    spans::failed(&span, &err);
                    let again = self.failed(lease, &err);
                    last = Some(err);
                    if !again {
                        return Err(self.gave(Exhausted::Fatal, last));
                    }
                }
                Err(_) => {
                    spans::timed_out(&span, timeout);
                    self.timed_out(lease, timeout);
                    last = Some(BackendError::Timeout(timeout));
                }
            }
        }
    }
}

/// Takes a queued request off the count however the wait ends.
struct Unqueue<'a>(&'a Pool);

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "attempts_tests.rs"]
mod tests;
