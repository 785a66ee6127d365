//! Peak-EWMA latency, as Linkerd and tower balance with: a slower answer than the estimate
//! replaces it at once (the peak), a faster one pulls it down gradually, and with no answers the
//! estimate decays toward zero, so a deployment that was slow once is tried again later instead
//! of being shunned forever.

use std::time::Duration;
use tokio::time::Instant;

/// One deployment's latency estimate.
#[derive(Debug, Clone, Copy)]
pub struct PeakEwma {
    /// The estimate in nanoseconds at `stamp`.
    estimate_ns: f64,
    stamp: Instant,
    /// The time constant of the decay.
    decay_ns: f64,
}

impl PeakEwma {
    /// An estimate starting at `initial` (what an unmeasured deployment is assumed to cost).
    pub fn new(initial: Duration, decay: Duration, now: Instant) -> Self {
        Self {
            estimate_ns: initial.as_nanos() as f64,
            stamp: now,
            decay_ns: (decay.as_nanos() as f64).max(1.0),
        }
    }

    /// Takes in one measured latency.
    pub fn observe(&mut self, latency: Duration, now: Instant) {
        let latency = latency.as_nanos() as f64;
        // One `exp` for both uses (it is most of this function's cost).
        let weight = self.weight(now);
        let current = self.estimate_ns * weight;
        self.estimate_ns = if latency > current {
            latency
        } else {
            current * weight + latency * (1.0 - weight)
        };
        self.stamp = now;
    }

    /// The estimate at `now`, in nanoseconds, decayed since the last observation.
    pub fn estimate_at(&self, now: Instant) -> f64 {
        self.estimate_ns * self.weight(now)
    }

    /// How much of the old estimate survives the time since the last observation.
    fn weight(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.stamp).as_nanos() as f64;
        (-elapsed / self.decay_ns).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_is_the_estimate_at_once_and_fast_ones_pull_it_down() {
        let start = Instant::now();
        let mut ewma = PeakEwma::new(ms(10), Duration::from_secs(10), start);
        ewma.observe(ms(100), start);
        assert!((ewma.estimate_at(start) - 100e6).abs() < 1.0);
        let mut now = start;
        for _ in 0..50 {
            now += ms(100);
            ewma.observe(ms(1), now);
        }
        let after = ewma.estimate_at(now) / 1e6;
        assert!(after < 100.0 && after > 1.0, "{after} ms");
    }

    #[tokio::test(start_paused = true)]
    async fn without_answers_the_estimate_decays_toward_zero() {
        let start = Instant::now();
        let mut ewma = PeakEwma::new(ms(10), Duration::from_secs(10), start);
        ewma.observe(ms(20), start);
        let later = start + Duration::from_secs(30);
        let decayed = ewma.estimate_at(later) / 1e6;
        assert!(decayed < 1.1 && decayed > 0.9, "{decayed} ms");
    }
}
