//! Exponential back-off with full jitter (a random wait between zero and the cap), so retries
//! of many requests that failed together do not arrive together.

use std::time::Duration;

/// Back-off for one request's retries.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    step: u32,
}

impl Backoff {
    /// Starting at `base`, doubling per step, capped at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, step: 0 }
    }

    /// The cap of the next wait (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.step.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next wait: uniformly random up to [`Self::ceiling`]; each call doubles the cap.
    pub fn next_wait(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.step = self.step.saturating_add(1);
        ceiling.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stay_under_it() {
        let mut backoff = Backoff::new(Duration::from_millis(25), Duration::from_millis(150));
        let ceilings: Vec<u128> = (0..5)
            .map(|_| {
                let ceiling = backoff.ceiling();
                assert!(backoff.next_wait() <= ceiling);
                ceiling.as_millis()
            })
            .collect();
        assert_eq!(ceilings, [25, 50, 100, 150, 150]);
    }
}
