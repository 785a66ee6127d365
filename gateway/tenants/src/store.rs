//! The one trait every shared-state store implements: admitting a request against its limits in
//! one atomic step, settling it afterwards, and keeping API-made keys and usage. Two stores:
//! process memory ([`crate::MemoryStore`], the single-node default) and Redis/Valkey
//! ([`crate::RedisStore`], shared by replicas). The same conformance suite runs on both.

use crate::key::{KeyRecord, SecretHash};
use crate::limits::Dimension;
use crate::usage::{UsageBucket, UsageRecord};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Whose counters: a key (`key:ID`) or a team (`team:NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope(String);

impl Scope {
    /// A key's counters.
    pub fn key(id: &str) -> Self {
        Self(format!("key:{id}"))
    }

    /// A team's counters.
    pub fn team(name: &str) -> Self {
        Self(format!("team:{name}"))
    }

    /// `key` or `team`: whose counters, as messages name them.
    pub fn kind(&self) -> &str {
        self.0.split(':').next().unwrap_or("key")
    }

    /// `key:ID` or `team:NAME`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One sliding-window limit to check and, if every check passes, to charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCheck {
    /// Whose.
    pub scope: Scope,
    /// Of what.
    pub dimension: Dimension,
    /// At most this much in any 60 seconds.
    pub limit: u64,
    /// This request's amount.
    pub amount: u64,
}

/// A cap on requests in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrencyCheck {
    /// Whose.
    pub scope: Scope,
    /// At most this many at once.
    pub limit: u64,
}

/// A hard budget: refuse once the period's spend has reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCheck {
    /// Whose.
    pub scope: Scope,
    /// The period's label (`2026-12`), part of the counter's name.
    pub period: String,
    /// Refuse at or above this spend (micro-dollars); `None` only reads the spend (a soft budget).
    pub hard_micros: Option<u64>,
}

/// Everything one request must pass, checked and charged atomically: either every counter is
/// charged or none is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Unique per request: names its window entries and its concurrency lease.
    pub request_id: String,
    /// The time to count at (unix milliseconds); `None`: the store's own clock (Redis's, so
    /// replicas with skewed clocks still share one timeline).
    pub now_ms: Option<u64>,
    /// Sliding windows.
    pub windows: Vec<WindowCheck>,
    /// Concurrency caps.
    pub concurrency: Vec<ConcurrencyCheck>,
    /// A lease not released within this long is dropped (a replica that died mid-request does
    /// not hold its slot for ever).
    pub lease_ms: u64,
    /// Budgets.
    pub budgets: Vec<BudgetCheck>,
}

/// A window's state after an admitted request, for the `x-ratelimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowState {
    /// Whose.
    pub scope: Scope,
    /// Of what.
    pub dimension: Dimension,
    /// The limit.
    pub limit: u64,
    /// What is left in the window now.
    pub remaining: u64,
    /// Milliseconds until the oldest charge leaves the window (when `remaining` next grows).
    pub reset_ms: u64,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A sliding window is full.
    Window {
        /// The window refused, with what was left and when enough will be.
        state: WindowState,
        /// Milliseconds until this request would fit; `None` when it never can (it alone is
        /// more than the limit).
        retry_after_ms: Option<u64>,
    },
    /// Too many requests in flight.
    Concurrency {
        /// Whose.
        scope: Scope,
        /// The cap.
        limit: u64,
    },
    /// The budget is spent.
    Budget {
        /// Whose.
        scope: Scope,
        /// Spent this period (micro-dollars).
        spent_micros: u64,
        /// The hard budget (micro-dollars).
        hard_micros: u64,
    },
}

/// The store's answer to an [`Admission`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Charged; the windows' state after the charge and each budget's spend so far, in the
    /// admission's order.
    Admitted {
        /// One per [`Admission::windows`].
        windows: Vec<WindowState>,
        /// One per [`Admission::budgets`]: micro-dollars spent this period.
        spent_micros: Vec<u64>,
    },
    /// Nothing was charged.
    Refused(Refusal),
}

/// A window charge to correct once the answer's real usage is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// Whose.
    pub scope: Scope,
    /// Of what.
    pub dimension: Dimension,
    /// The real amount, replacing the estimate.
    pub amount: u64,
}

/// Money spent by a request, added to a budget's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    /// Whose.
    pub scope: Scope,
    /// The period's label.
    pub period: String,
    /// Micro-dollars.
    pub micros: u64,
}

/// What happens once a request is over: corrected charges, released leases, spend and usage.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// The admitted request's id.
    pub request_id: String,
    /// Window charges to correct.
    pub corrections: Vec<Correction>,
    /// Concurrency leases to release.
    pub releases: Vec<Scope>,
    /// Spend to add.
    pub spend: Vec<Spend>,
    /// The usage to record; `None` for a quota lease's correction, which is no request.
    pub usage: Option<UsageRecord>,
}

/// A store that could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Unreachable, timed out, or refused the command.
    #[error("the state store is unavailable: {0}")]
    Unavailable(String),
    /// Answered something this gateway does not understand.
    #[error("the state store answered unexpectedly: {0}")]
    Corrupt(String),
}

/// Shared state for limits, budgets, usage and API-made keys.
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// `"memory"` or `"redis"`, for logs and the health view.
    fn name(&self) -> &'static str;

    /// Checks every limit of `admission` and, if all pass, charges them, atomically.
    async fn admit(&self, admission: &Admission) -> Result<Verdict, StoreError>;

    /// Corrects, releases, spends and records what `settlement` says.
    async fn settle(&self, settlement: &Settlement) -> Result<(), StoreError>;

    /// Settles several requests at once (what the gatekeeper's settler sends: everything that
    /// ended while the previous batch was on its way). Stores that can should do it in one
    /// round trip; the default settles them one by one.
    async fn settle_many(&self, settlements: &[Settlement]) -> Result<(), StoreError> {
        for settlement in settlements {
            self.settle(settlement).await?;
        }
        Ok(())
    }

    /// Adds `records` to the usage buckets and spend without touching windows or leases (what a
    /// replica counted locally while the store was away).
    async fn reconcile(&self, spend: &[Spend], records: &[UsageRecord]) -> Result<(), StoreError>;

    /// Usage buckets (hourly) from `from_secs` (inclusive) to `to_secs` (exclusive), of one key
    /// or of every key.
    async fn usage(
        &self,
        key_id: Option<&str>,
        from_secs: u64,
        to_secs: u64,
    ) -> Result<Vec<UsageBucket>, StoreError>;

    /// Stores `record` (new, or replacing the one with its id, whose secret digest may change).
    async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError>;

    /// The key whose secret has this digest.
    async fn key_by_hash(&self, hash: &SecretHash) -> Result<Option<KeyRecord>, StoreError>;

    /// The key with this id.
    async fn key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// Every stored key.
    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;

    /// Deletes a key; whether it existed.
    async fn delete_key(&self, id: &str) -> Result<bool, StoreError>;

    /// Whether the store answers now.
    async fn ping(&self) -> Result<(), StoreError>;
}
