//! One deployment's live state: requests in flight, latency, and passive health (failures in a
//! row or a failure rate eject it for a back-off that doubles while it keeps failing; when the
//! back-off ends one trial request is let through, and its outcome decides).

use crate::classify::{Failure, FailureClass};
use crate::ewma::PeakEwma;
use crate::policy::OutlierPolicy;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Recent errors kept for the admin view.
const RECENT_ERRORS: usize = 5;

/// The longest a `retry-after` is honoured: an upstream cannot take itself out for an hour.
const MAX_COOLDOWN: Duration = Duration::from_secs(60);

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointState {
    /// In rotation.
    Healthy,
    /// Out of rotation until its back-off ends.
    Ejected,
    /// Its back-off ended; one trial request decides whether it is back.
    HalfOpen,
    /// It asked (`retry-after`) not to be sent anything for a while.
    CoolingDown,
}

impl EndpointState {
    /// The name the admin view shows.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Ejected => "ejected",
            Self::HalfOpen => "half_open",
            Self::CoolingDown => "cooling_down",
        }
    }
}

/// What the admin view shows of one deployment.
#[derive(Debug, Clone)]
pub struct EndpointSnapshot {
    /// Where it stands.
    pub state: EndpointState,
    /// Requests in flight.
    pub in_flight: usize,
    /// The peak-EWMA latency estimate, in milliseconds.
    pub ewma_ms: f64,
    /// Requests finished (succeeded or failed) since start.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
    /// How long until it may be tried again (ejected or cooling down).
    pub unavailable_for: Option<Duration>,
    /// The last few failures, newest last.
    pub recent_errors: Vec<String>,
}

/// The mutable part of a deployment's state (behind the endpoint's lock).
#[derive(Debug)]
pub(crate) struct Health {
    pub(crate) ewma: PeakEwma,
    /// A running estimate of the 95th percentile latency, in nanoseconds (0: no sample yet).
    pub(crate) p95_ns: f64,
    consecutive_failures: u32,
    /// Outcomes in the current failure-rate window.
    window_start: Instant,
    window_requests: u32,
    window_failures: u32,
    /// Ejections in a row (the back-off doubles with each).
    ejections: u32,
    ejected_until: Option<Instant>,
    cooldown_until: Option<Instant>,
    /// A half-open trial is in flight: nobody else is let through.
    trial_in_flight: bool,
    requests: u64,
    failures: u64,
    recent_errors: VecDeque<String>,
}

impl Health {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            // An unmeasured deployment is assumed to cost 20 ms until it answers.
            ewma: PeakEwma::new(Duration::from_millis(20), Duration::from_secs(10), now),
            p95_ns: 0.0,
            consecutive_failures: 0,
            window_start: now,
            window_requests: 0,
            window_failures: 0,
            ejections: 0,
            ejected_until: None,
            cooldown_until: None,
            trial_in_flight: false,
            requests: 0,
            failures: 0,
            recent_errors: VecDeque::with_capacity(RECENT_ERRORS),
        }
    }

    /// Where it stands at `now`.
    pub(crate) fn state(&self, now: Instant) -> EndpointState {
        if self.cooldown_until.is_some_and(|until| now < until) {
            EndpointState::CoolingDown
        } else if self.ejected_until.is_some_and(|until| now < until) {
            EndpointState::Ejected
        } else if self.ejections > 0 {
            EndpointState::HalfOpen
        } else {
            EndpointState::Healthy
        }
    }

    /// Whether a request may be sent now; a half-open deployment takes one trial at a time.
    pub(crate) fn selectable(&self, now: Instant) -> bool {
        match self.state(now) {
            EndpointState::Healthy => true,
            EndpointState::HalfOpen => !self.trial_in_flight,
            EndpointState::Ejected | EndpointState::CoolingDown => false,
        }
    }

    /// Marks the start of a request (a half-open deployment's trial).
    pub(crate) fn started(&mut self, now: Instant) {
        if self.state(now) == EndpointState::HalfOpen {
            self.trial_in_flight = true;
        }
    }

    /// A request that ended without an outcome (the client went away).
    pub(crate) fn abandoned(&mut self) {
        self.trial_in_flight = false;
    }

    /// When it can be tried again, if it cannot now.
    pub(crate) fn available_at(&self, now: Instant) -> Option<Instant> {
        match self.state(now) {
            EndpointState::CoolingDown => self.cooldown_until,
            EndpointState::Ejected => self.ejected_until,
            EndpointState::Healthy | EndpointState::HalfOpen => None,
        }
    }

    pub(crate) fn succeeded(&mut self, latency: Duration, now: Instant, policy: &OutlierPolicy) {
        self.ewma.observe(latency, now);
        self.observe_p95(latency);
        self.count(false, now, policy);
        self.consecutive_failures = 0;
        self.trial_in_flight = false;
        if self.ejections > 0 && self.ejected_until.is_none_or(|until| now >= until) {
            tracing::info!("deployment back in rotation after a successful trial");
            self.ejections = 0;
            self.ejected_until = None;
        }
    }

    pub(crate) fn failed(&mut self, failure: &Failure, now: Instant, policy: &OutlierPolicy) {
        self.trial_in_flight = false;
        if self.recent_errors.len() == RECENT_ERRORS {
            self.recent_errors.pop_front();
        }
        self.recent_errors.push_back(failure.summary.clone());
        match failure.class {
            FailureClass::Fatal | FailureClass::RetryBusy => {}
            FailureClass::RetryAfter(after) => {
                self.cooldown_until = Some(now + after.min(MAX_COOLDOWN));
            }
            FailureClass::Retry => {
                self.failures += 1;
                self.consecutive_failures += 1;
                self.count(true, now, policy);
                let rate_exceeded = self.window_requests >= policy.min_requests
                    && f64::from(self.window_failures)
                        >= policy.failure_rate * f64::from(self.window_requests);
                let was_trial = self.ejections > 0;
                if was_trial
                    || self.consecutive_failures >= policy.consecutive_failures
                    || rate_exceeded
                {
                    self.eject(now, policy);
                }
            }
        }
    }

    /// An active probe's result: a failure takes a deployment in rotation out (as passive
    /// ejection does, doubling while it keeps failing); a success brings an ejected one back
    /// at once, without waiting for its back-off and trial.
    pub(crate) fn probed(
        &mut self,
        result: Result<(), String>,
        now: Instant,
        policy: &OutlierPolicy,
    ) {
        match result {
            Ok(()) => {
                if self.ejections > 0 {
                    tracing::info!("deployment back in rotation after a successful probe");
                }
                self.ejections = 0;
                self.ejected_until = None;
                self.consecutive_failures = 0;
                self.trial_in_flight = false;
            }
            Err(summary) => {
                if self.recent_errors.len() == RECENT_ERRORS {
                    self.recent_errors.pop_front();
                }
                self.recent_errors.push_back(format!("probe: {summary}"));
                if self.state(now) != EndpointState::Ejected {
                    self.eject(now, policy);
                }
            }
        }
    }

    /// Stochastic approximation of the 95th percentile with steps proportional to the estimate:
    /// it settles where 5 % of samples lie above it, in O(1) time and space per sample.
    fn observe_p95(&mut self, latency: Duration) {
        const RATE: f64 = 0.05;
        let sample = latency.as_nanos() as f64;
        if self.p95_ns <= 0.0 {
            self.p95_ns = sample;
        } else if sample > self.p95_ns {
            self.p95_ns += RATE * self.p95_ns * 0.95;
        } else {
            self.p95_ns -= RATE * self.p95_ns * 0.05;
        }
    }

    fn eject(&mut self, now: Instant, policy: &OutlierPolicy) {
        let factor = 1u32.checked_shl(self.ejections.min(16)).unwrap_or(u32::MAX);
        let length = policy
            .base_ejection
            .saturating_mul(factor)
            .min(policy.max_ejection);
        self.ejections = self.ejections.saturating_add(1);
        self.ejected_until = Some(now + length);
        self.consecutive_failures = 0;
        self.window_start = now;
        self.window_requests = 0;
        self.window_failures = 0;
        tracing::warn!(
            ejected_for_ms = length.as_millis() as u64,
            "deployment ejected"
        );
    }

    fn count(&mut self, failed: bool, now: Instant, policy: &OutlierPolicy) {
        if now.saturating_duration_since(self.window_start) >= policy.window {
            self.window_start = now;
            self.window_requests = 0;
            self.window_failures = 0;
        }
        self.window_requests += 1;
        self.window_failures += u32::from(failed);
        self.requests += 1;
    }

    pub(crate) fn snapshot(&self, in_flight: usize, now: Instant) -> EndpointSnapshot {
        EndpointSnapshot {
            state: self.state(now),
            in_flight,
            ewma_ms: self.ewma.estimate_at(now) / 1e6,
            requests: self.requests,
            failures: self.failures,
            unavailable_for: self
                .available_at(now)
                .map(|at| at.saturating_duration_since(now)),
            recent_errors: self.recent_errors.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> Failure {
        Failure {
            class: FailureClass::Retry,
            summary: "boom".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_in_a_row_eject_and_a_successful_trial_brings_it_back() {
        let policy = OutlierPolicy::default();
        let now = Instant::now();
        let mut health = Health::new(now);
        for _ in 0..policy.consecutive_failures {
            assert!(health.selectable(now));
            health.failed(&failure(), now, &policy);
        }
        assert_eq!(health.state(now), EndpointState::Ejected);
        assert!(!health.selectable(now));

        let later = now + policy.base_ejection;
        assert_eq!(health.state(later), EndpointState::HalfOpen);
        assert!(health.selectable(later));
        health.started(later);
        assert!(!health.selectable(later), "one trial at a time");
        health.succeeded(Duration::from_millis(5), later, &policy);
        assert_eq!(health.state(later), EndpointState::Healthy);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_ejects_again_for_twice_as_long_up_to_the_cap() {
        let policy = OutlierPolicy::default();
        let mut now = Instant::now();
        let mut health = Health::new(now);
        for _ in 0..policy.consecutive_failures {
            health.failed(&failure(), now, &policy);
        }
        let mut lengths = Vec::new();
        for _ in 0..5 {
            let until = health.ejected_until.unwrap_or(now);
            lengths.push(until.saturating_duration_since(now).as_millis());
            now = until;
            health.started(now);
            health.failed(&failure(), now, &policy);
        }
        assert_eq!(lengths, [500, 1000, 2000, 4000, 4000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_ejects_and_a_successful_one_brings_it_back_at_once() {
        let policy = OutlierPolicy::default();
        let now = Instant::now();
        let mut health = Health::new(now);
        health.probed(Err("connection refused".into()), now, &policy);
        assert_eq!(health.state(now), EndpointState::Ejected);
        // Another failed probe while ejected does not stretch the ejection.
        health.probed(Err("connection refused".into()), now, &policy);
        assert_eq!(health.ejections, 1);
        health.probed(Ok(()), now, &policy);
        assert_eq!(health.state(now), EndpointState::Healthy);
    }

    #[tokio::test(start_paused = true)]
    async fn the_p95_estimate_settles_near_the_95th_percentile() {
        let policy = OutlierPolicy::default();
        let now = Instant::now();
        let mut health = Health::new(now);
        // 1..=100 ms, shuffled deterministically: the 95th percentile is 95 ms.
        for round in 0..200u64 {
            for i in 0..100u64 {
                let ms = (i * 37 + round) % 100 + 1;
                health.succeeded(Duration::from_millis(ms), now, &policy);
            }
        }
        let p95 = health.p95_ns / 1e6;
        assert!((85.0..=100.0).contains(&p95), "{p95} ms");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_cools_down_without_counting_as_a_failure() {
        let policy = OutlierPolicy::default();
        let now = Instant::now();
        let mut health = Health::new(now);
        let busy = Failure {
            class: FailureClass::RetryAfter(Duration::from_secs(2)),
            summary: "429".into(),
        };
        health.failed(&busy, now, &policy);
        assert_eq!(health.state(now), EndpointState::CoolingDown);
        assert_eq!(health.failures, 0);
        assert_eq!(
            health.state(now + Duration::from_secs(2)),
            EndpointState::Healthy
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_rate_over_the_window_ejects_even_without_failures_in_a_row() {
        let policy = OutlierPolicy::default();
        let now = Instant::now();
        let mut health = Health::new(now);
        for i in 0..10 {
            if i % 2 == 1 {
                health.failed(&failure(), now, &policy);
            } else {
                health.succeeded(Duration::from_millis(1), now, &policy);
            }
        }
        assert_eq!(health.state(now), EndpointState::Ejected);
    }
}
