//! A retry budget (as Finagle and Envoy keep one): retries may add at most a fraction of the
//! recent requests, plus a small allowance per second, so that when a whole model fails its
//! retries cannot multiply the load on it.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Requests and retries over a sliding window of two halves.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_sec: f64,
    window: Duration,
    counts: Mutex<Counts>,
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    /// When the current half began.
    since: Instant,
    /// Requests and retries of the current half...
    requests: f64,
    retries: f64,
    /// ...and of the one before (it still counts, so the window slides in halves).
    previous_requests: f64,
    previous_retries: f64,
}

impl RetryBudget {
    /// Retries ≤ `ratio` × requests + `min_per_sec` × window, over `window`.
    pub fn new(ratio: f64, min_per_sec: f64, window: Duration) -> Self {
        Self {
            ratio,
            min_per_sec,
            window,
            counts: Mutex::new(Counts {
                since: Instant::now(),
                requests: 0.0,
                retries: 0.0,
                previous_requests: 0.0,
                previous_retries: 0.0,
            }),
        }
    }

    /// Counts one request (its first try).
    pub fn deposit(&self) {
        self.deposit_at(Instant::now());
    }

    /// [`RetryBudget::deposit`] at `now` (the caller's clock reading).
    pub(crate) fn deposit_at(&self, now: Instant) {
        self.with_at(now, |counts| counts.requests += 1.0);
    }

    /// Takes one retry from the budget, or refuses it when the budget is spent.
    pub fn withdraw(&self) -> bool {
        let (ratio, allowance) = (self.ratio, self.min_per_sec * self.window.as_secs_f64());
        self.with(|counts| {
            let requests = counts.requests + counts.previous_requests;
            let retries = counts.retries + counts.previous_retries;
            if retries + 1.0 <= ratio * requests + allowance {
                counts.retries += 1.0;
                true
            } else {
                false
            }
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Counts) -> T) -> T {
        self.with_at(Instant::now(), f)
    }

    fn with_at<T>(&self, now: Instant, f: impl FnOnce(&mut Counts) -> T) -> T {
        let mut counts = match self.counts.lock() {
            Ok(counts) => counts,
            Err(poisoned) => poisoned.into_inner(),
        };
        let half = self.window / 2;
        let elapsed = now.saturating_duration_since(counts.since);
        if elapsed >= half {
            // A whole window without a roll: nothing of it counts any more.
            let stale = elapsed >= self.window;
            counts.previous_requests = if stale { 0.0 } else { counts.requests };
            counts.previous_retries = if stale { 0.0 } else { counts.retries };
            counts.requests = 0.0;
            counts.retries = 0.0;
            counts.since = now;
        }
        f(&mut counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_stay_within_the_ratio_plus_the_allowance() {
        let budget = RetryBudget::new(0.2, 1.0, Duration::from_secs(10));
        for _ in 0..100 {
            budget.deposit();
        }
        // 20 % of 100, plus 1 per second over 10 s.
        let granted = (0..100).filter(|_| budget.withdraw()).count();
        assert_eq!(granted, 30);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_refills_as_the_window_slides() {
        let budget = RetryBudget::new(0.0, 0.5, Duration::from_secs(10));
        assert_eq!((0..10).filter(|_| budget.withdraw()).count(), 5);
        tokio::time::advance(Duration::from_secs(5)).await;
        // Half a window later the spent retries still count.
        assert!(!budget.withdraw());
        tokio::time::advance(Duration::from_secs(5)).await;
        // A whole window later they are gone.
        assert_eq!((0..10).filter(|_| budget.withdraw()).count(), 5);
    }
}
