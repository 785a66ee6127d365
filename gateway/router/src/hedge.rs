//! Hedged tries: when a try has taken longer than its deployment's p95 latency, a second copy
//! goes to another deployment and the first answer wins; the other is cancelled (its future
//! dropped, which drops its upstream call). Only for requests that may be sent twice (whole
//! answers, not streams) and only while the retry budget allows, so hedging cannot double the
//! load of a slow model.

use crate::attempts::{Attempt, Attempts, Exhausted, Gave};
use crate::policy::HedgePolicy;
use crate::pool::Lease;
use crate::spans;
use omnigate_backend::BackendError;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;
use tracing::Span;

/// How one try ended.
enum Ended<T> {
    Answered(T),
    Failed(BackendError),
    TimedOut(Duration),
}

/// One try in its span; a try dropped because the other copy won ends with no `outcome`.
async fn attempt_of<T, Fut>(timeout: Duration, future: Fut, span: Span) -> Ended<T>
where
    Fut: Future<Output = Result<T, BackendError>>,
{
    let ended = match spans::timed_try!(span, timeout, future) {
        Ok(Ok(value)) => Ended::Answered(value),
        Ok(Err(err)) => Ended::Failed(err),
        Err(_) => Ended::TimedOut(timeout),
    };
    match &ended {
        Ended::Answered(_) => spans::answered(&span),
        Ended::Failed(err) => spans::failed(&span, err),
        Ended::TimedOut(after) => spans::timed_out(&span, *after),
    }
    ended
}

impl Attempts {
    /// [`Attempts::run`] for calls whose future ends with the whole answer (not a stream),
    /// hedged when the model's policy says so.
    pub async fn run_hedged<T, F, Fut>(&mut self, call: F) -> Result<(T, Lease), Gave>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        match self.pool().policy().hedge.clone() {
            None => self.tries(call, true).await,
            // Boxed: two tries and a timer in flight make a future several times the size of
            // one try's, and every request of a model that asks no hedging would carry (and
            // each caller's future move) that room.
            Some(hedge) => Box::pin(self.hedged(hedge, call)).await,
        }
    }

    async fn hedged<T, F, Fut>(
        &mut self,
        hedge: HedgePolicy,
        mut call: F,
    ) -> Result<(T, Lease), Gave>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let mut last = None;
        loop {
            let first = match self.next().await {
                Ok(attempt) => attempt,
                Err(reason) => return Err(self.gave(reason, last)),
            };
            let delay = self
                .pool()
                .hedge_delay(first.lease.index(), hedge.min_delay);
            let Attempt {
                lease: mut first_lease,
                timeout,
                number,
            } = first;
            let span = spans::attempt(self.span(), &first_lease, number, false);
            let mut first_try = pin!(attempt_of(timeout, call(first_lease.index()), span));
            let early = tokio::select! {
                ended = &mut first_try => Some(ended),
                () = tokio::time::sleep(delay) => None,
            };
            let ended = match early {
                Some(ended) => ended,
                None => match self.hedge_attempt() {
                    None => first_try.await,
                    Some(second) => {
                        let Attempt {
                            lease: mut second_lease,
                            timeout,
                            number,
                        } = second;
                        let span = spans::attempt(self.span(), &second_lease, number, true);
                        let second_try = attempt_of(timeout, call(second_lease.index()), span);
                        let mut second_try = pin!(second_try);
                        tokio::select! {
                            ended = &mut first_try => match ended {
                                Ended::Answered(value) => {
                                    first_lease.succeeded();
                                    return Ok((value, first_lease));
                                }
                                failed => {
                                    self.record_end(first_lease, failed, &mut last);
                                    first_lease = second_lease;
                                    second_try.await
                                }
                            },
                            ended = &mut second_try => match ended {
                                Ended::Answered(value) => {
                                    second_lease.succeeded();
                                    return Ok((value, second_lease));
                                }
                                failed => {
                                    self.record_end(second_lease, failed, &mut last);
                                    first_try.await
                                }
                            },
                        }
                    }
                },
            };
            match ended {
                Ended::Answered(value) => {
                    first_lease.succeeded();
                    return Ok((value, first_lease));
                }
                failed => {
                    if !self.record_end(first_lease, failed, &mut last) {
                        return Err(self.gave(Exhausted::Fatal, last));
                    }
                }
            }
        }
    }

    /// Records a failed try; whether another may follow.
    fn record_end<T>(
        &mut self,
        lease: Lease,
        ended: Ended<T>,
        last: &mut Option<BackendError>,
    ) -> bool {
        match ended {
            Ended::Answered(_) => true,
            Ended::Failed(err) => {
                let again = self.failed(lease, &err);
                *last = Some(err);
                again
            }
            Ended::TimedOut(after) => {
                self.timed_out(lease, after);
                *last = Some(BackendError::Timeout(after));
                true
            }
        }
    }
}
