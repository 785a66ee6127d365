//! The routing rules of one model, typed, with defaults right for a user who writes nothing.

use std::time::Duration;

/// How a model's requests are spread over its deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Power of two choices: two deployments drawn at random (weighted), the one with the lower
    /// peak-EWMA latency × (requests in flight + 1) wins, as Linkerd balances.
    #[default]
    P2cEwma,
    /// In turn.
    RoundRobin,
    /// The one with the fewest requests in flight (ties: in turn).
    LeastInFlight,
    /// In proportion to the static weights (smooth weighted round-robin).
    Weighted,
}

/// When a deployment is taken out of rotation, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierPolicy {
    /// Failures in a row that eject a deployment.
    pub consecutive_failures: u32,
    /// A failure rate at or above this over [`Self::window`] ejects too...
    pub failure_rate: f64,
    /// ...once the window holds at least this many requests.
    pub min_requests: u32,
    /// The window the failure rate is measured over.
    pub window: Duration,
    /// First ejection; each further one in a row doubles it...
    pub base_ejection: Duration,
    /// ...up to this.
    pub max_ejection: Duration,
}

impl Default for OutlierPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 3,
            failure_rate: 0.5,
            min_requests: 10,
            window: Duration::from_secs(10),
            base_ejection: Duration::from_millis(500),
            max_ejection: Duration::from_secs(4),
        }
    }
}

/// How failed tries are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Most tries of one request, the first included.
    pub max_attempts: u32,
    /// Longest one try may take before it is abandoned (and retried).
    pub per_try_timeout: Duration,
    /// Longest the whole request may take, retries and back-off included.
    pub deadline: Duration,
    /// Retries may add at most this fraction of the requests of the last [`Self::budget_window`]...
    pub budget_ratio: f64,
    /// ...plus this many per second, so a quiet model can still retry.
    pub budget_min_per_sec: f64,
    /// The window the budget is counted over.
    pub budget_window: Duration,
    /// First back-off before coming back to a deployment already tried; doubles each time.
    pub backoff_base: Duration,
    /// Longest back-off.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            per_try_timeout: Duration::from_secs(120),
            deadline: Duration::from_secs(300),
            budget_ratio: 0.2,
            budget_min_per_sec: 10.0,
            budget_window: Duration::from_secs(10),
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_secs(1),
        }
    }
}

/// Hedging: a second copy of a slow request on another deployment, the first answer wins.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgePolicy {
    /// Hedge no sooner than this, even when the deployment's p95 latency is lower.
    pub min_delay: Duration,
}

/// Everything the router needs to know about one model.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingPolicy {
    /// How requests are spread.
    pub strategy: Strategy,
    /// Ejection of failing deployments.
    pub outlier: OutlierPolicy,
    /// Retries.
    pub retry: RetryPolicy,
    /// Requests that may wait for a free deployment when every one is full; more get 429.
    pub max_queued: usize,
    /// Longest a request waits for a free deployment.
    pub queue_timeout: Duration,
    /// Hedging for requests that may be sent twice (whole answers, not streams); off when
    /// `None`.
    pub hedge: Option<HedgePolicy>,
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        Self {
            strategy: Strategy::default(),
            outlier: OutlierPolicy::default(),
            retry: RetryPolicy::default(),
            max_queued: 256,
            queue_timeout: Duration::from_secs(5),
            hedge: None,
        }
    }
}
