//! `[models.NAME.routing]`: how a model's requests are spread over its deployments, when a
//! deployment is taken out of rotation, and how failed tries are retried. Every key has a
//! default right for a user who writes nothing.

use crate::ConfigError;
use serde::Deserialize;

/// How requests are spread over a model's deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceStrategy {
    /// Power of two random choices over peak-EWMA latency × requests in flight (Linkerd's).
    #[default]
    P2cEwma,
    /// In turn.
    RoundRobin,
    /// The one with the fewest requests in flight.
    LeastInFlight,
    /// In proportion to each deployment's `weight`.
    Weighted,
}

/// A model's routing rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// How requests are spread.
    #[serde(default)]
    pub strategy: BalanceStrategy,
    /// Most tries of one request, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Longest one try may take before it is abandoned and retried elsewhere.
    #[serde(default = "default_per_try_timeout_secs")]
    pub per_try_timeout_secs: f64,
    /// Longest a whole request may take, retries included (a request's
    /// `x-omnigate-timeout-ms` header may shorten it, never lengthen it).
    #[serde(default = "default_deadline_secs")]
    pub deadline_secs: f64,
    /// Retries may add at most this fraction of the model's recent requests...
    #[serde(default = "default_retry_budget_ratio")]
    pub retry_budget_ratio: f64,
    /// ...plus this many per second.
    #[serde(default = "default_retry_budget_min_per_sec")]
    pub retry_budget_min_per_sec: f64,
    /// First back-off before a deployment already tried is tried again (doubles, jittered).
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: f64,
    /// Longest back-off.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: f64,
    /// Failures in a row that eject a deployment.
    #[serde(default = "default_consecutive_failures")]
    pub consecutive_failures: u32,
    /// A failure rate at or above this over `failure_window_secs` ejects it too...
    #[serde(default = "default_failure_rate")]
    pub failure_rate: f64,
    /// ...once the window holds this many requests.
    #[serde(default = "default_failure_min_requests")]
    pub failure_min_requests: u32,
    /// The window of the failure rate.
    #[serde(default = "default_failure_window_secs")]
    pub failure_window_secs: f64,
    /// First ejection; doubles with each ejection in a row...
    #[serde(default = "default_base_ejection_secs")]
    pub base_ejection_secs: f64,
    /// ...up to this. When an ejection ends, one trial request decides whether it is back.
    #[serde(default = "default_max_ejection_secs")]
    pub max_ejection_secs: f64,
    /// Requests that may wait when every deployment is at its `max_in_flight`; more get 429.
    #[serde(default = "default_max_queued")]
    pub max_queued: usize,
    /// Longest such a wait.
    #[serde(default = "default_queue_timeout_secs")]
    pub queue_timeout_secs: f64,
    /// Hedge whole-answer requests (not streams): a try slower than its deployment's p95
    /// latency gets a second copy on another deployment, and the first answer wins. Hedges
    /// are drawn from the retry budget.
    #[serde(default)]
    pub hedge: bool,
    /// Hedge no sooner than this, even when the p95 is lower.
    #[serde(default = "default_hedge_min_delay_ms")]
    pub hedge_min_delay_ms: f64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            strategy: BalanceStrategy::default(),
            max_attempts: default_max_attempts(),
            per_try_timeout_secs: default_per_try_timeout_secs(),
            deadline_secs: default_deadline_secs(),
            retry_budget_ratio: default_retry_budget_ratio(),
            retry_budget_min_per_sec: default_retry_budget_min_per_sec(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            consecutive_failures: default_consecutive_failures(),
            failure_rate: default_failure_rate(),
            failure_min_requests: default_failure_min_requests(),
            failure_window_secs: default_failure_window_secs(),
            base_ejection_secs: default_base_ejection_secs(),
            max_ejection_secs: default_max_ejection_secs(),
            max_queued: default_max_queued(),
            queue_timeout_secs: default_queue_timeout_secs(),
            hedge: false,
            hedge_min_delay_ms: default_hedge_min_delay_ms(),
        }
    }
}

fn default_max_attempts() -> u32 {
    3
}
fn default_per_try_timeout_secs() -> f64 {
    120.0
}
fn default_deadline_secs() -> f64 {
    300.0
}
fn default_retry_budget_ratio() -> f64 {
    0.2
}
fn default_retry_budget_min_per_sec() -> f64 {
    10.0
}
fn default_backoff_base_ms() -> f64 {
    25.0
}
fn default_backoff_max_ms() -> f64 {
    1000.0
}
fn default_consecutive_failures() -> u32 {
    3
}
fn default_failure_rate() -> f64 {
    0.5
}
fn default_failure_min_requests() -> u32 {
    10
}
fn default_failure_window_secs() -> f64 {
    10.0
}
fn default_base_ejection_secs() -> f64 {
    0.5
}
fn default_max_ejection_secs() -> f64 {
    4.0
}
fn default_max_queued() -> usize {
    256
}
fn default_queue_timeout_secs() -> f64 {
    5.0
}
fn default_hedge_min_delay_ms() -> f64 {
    50.0
}

impl RoutingConfig {
    /// Checks ranges; `key` is the table (`models.NAME.routing`).
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let positive = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::invalid(
                    format!("{key}.{name}"),
                    "must be a positive number",
                ))
            }
        };
        positive("per_try_timeout_secs", self.per_try_timeout_secs)?;
        positive("deadline_secs", self.deadline_secs)?;
        positive("backoff_base_ms", self.backoff_base_ms)?;
        positive("backoff_max_ms", self.backoff_max_ms)?;
        positive("failure_window_secs", self.failure_window_secs)?;
        positive("base_ejection_secs", self.base_ejection_secs)?;
        positive("max_ejection_secs", self.max_ejection_secs)?;
        positive("queue_timeout_secs", self.queue_timeout_secs)?;
        positive("hedge_min_delay_ms", self.hedge_min_delay_ms)?;
        if self.max_attempts == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.max_attempts"),
                "must be at least 1 (1 means no retries)",
            ));
        }
        if self.consecutive_failures == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.consecutive_failures"),
                "must be at least 1",
            ));
        }
        if !(self.failure_rate > 0.0 && self.failure_rate <= 1.0) {
            return Err(ConfigError::invalid(
                format!("{key}.failure_rate"),
                "must be above 0 and at most 1",
            ));
        }
        for (name, value) in [
            ("retry_budget_ratio", self.retry_budget_ratio),
            ("retry_budget_min_per_sec", self.retry_budget_min_per_sec),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError::invalid(
                    format!("{key}.{name}"),
                    "must be zero or more",
                ));
            }
        }
        if self.max_ejection_secs < self.base_ejection_secs {
            return Err(ConfigError::invalid(
                format!("{key}.max_ejection_secs"),
                "must be at least `base_ejection_secs`",
            ));
        }
        if self.backoff_max_ms < self.backoff_base_ms {
            return Err(ConfigError::invalid(
                format!("{key}.backoff_max_ms"),
                "must be at least `backoff_base_ms`",
            ));
        }
        Ok(())
    }
}
