//! The front the gateway drives for every request: who is calling ([`Gatekeeper::authenticate`],
//! in `keys.rs`, with the config's keys and the store's cached ones), is there room under their
//! limits and budget ([`Gatekeeper::admit`], one store round trip), and what did it use
//! ([`Gatekeeper::settle`], off the request's path).
//!
//! When the store does not answer within its timeout, the configured [`StorePolicy`] decides:
//! `FailOpen` serves and counts in this process's memory (usage and spend are written to the
//! store once it answers again), `FailClosed` refuses with a clear 503. Never a hang.

use crate::key::Budget;
use crate::key::{KeyRecord, KeyRefusal, SecretHash};
use crate::lease::{Lease, LeaseSettings, Leases, Taken};
use crate::limits::{Charge, Dimension, Limits};
use crate::memory::{MemoryStore, unix_ms};
use crate::settler::{self, Message, Settler};
use crate::store::{
    Admission, BudgetCheck, ConcurrencyCheck, Correction, Refusal, Scope, Settlement, Spend,
    StoreError, TenantStore, Verdict, WindowCheck, WindowState,
};
use crate::usage::{Prices, UsageRecord, micros};
use keys::{CachedKey, Declared};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What to do when the store cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorePolicy {
    /// Serve, counting in this process meanwhile; write usage and spend to the store later.
    #[default]
    FailOpen,
    /// Refuse with 503 until the store is back.
    FailClosed,
}

/// A team's shared limits and budget.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamPolicy {
    /// Limits shared by every key of the team.
    pub limits: Limits,
    /// Budget shared by every key of the team.
    pub budget: Option<Budget>,
}

/// How the gatekeeper is set up.
pub struct Settings {
    /// Keys declared in the config (secrets already hashed).
    pub config_keys: Vec<KeyRecord>,
    /// Teams by name.
    pub teams: HashMap<String, TeamPolicy>,
    /// Prices by model.
    pub prices: HashMap<String, Prices>,
    /// What a store outage does.
    pub policy: StorePolicy,
    /// Longest wait for the store.
    pub store_timeout: Duration,
    /// How long a key looked up in the store is trusted before it is read again (how soon a
    /// change made through another replica takes effect here).
    pub key_cache: Duration,
    /// A concurrency slot not released within this long is freed (a replica died mid-request).
    pub lease: Duration,
    /// Admit a key's requests from blocks of room taken from the store (see [`crate::lease`]);
    /// `None`: every request asks the store (what a store in this process needs).
    pub quota_lease: Option<LeaseSettings>,
}

/// A caller, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Their key.
    pub key: Arc<KeyRecord>,
}

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No key has this secret (or it is not a plausible secret at all).
    #[error("Invalid API key.")]
    Invalid,
    /// The key exists and may not be used.
    #[error("{0}")]
    Refused(#[from] KeyRefusal),
    /// The store is away and the policy is to fail closed.
    #[error("The key store is unavailable; retry later.")]
    StoreUnavailable,
}

/// An admitted request: what to send back in headers, and what to settle afterwards.
#[derive(Debug)]
pub struct Ticket {
    request_id: String,
    key: Arc<KeyRecord>,
    model: String,
    charge: Charge,
    /// The windows after this request, for `x-ratelimit-*`.
    pub windows: Vec<WindowState>,
    /// Set when a soft budget has been passed: (scope, spent, soft), in micro-dollars.
    pub soft_budget_passed: Option<(Scope, u64, u64)>,
    /// Admitted without the store (fail-open): counted here only.
    pub degraded: bool,
    /// The quota lease it was admitted from (its charges are the lease's).
    lease: Option<Arc<Lease>>,
}

impl Ticket {
    fn new(request_id: String, key: &Arc<KeyRecord>, model: &str, charge: Charge) -> Self {
        Self {
            request_id,
            key: Arc::clone(key),
            model: model.to_owned(),
            charge,
            windows: Vec::new(),
            soft_budget_passed: None,
            degraded: false,
            lease: None,
        }
    }

    fn leased(mut self, (lease, windows): Taken) -> Self {
        self.lease = Some(lease);
        self.windows = windows;
        self
    }
}

/// Why a request was not admitted.
#[derive(Debug)]
pub enum Denial {
    /// A limit or budget.
    Limited(Refusal),
    /// The store is away and the policy is to fail closed.
    StoreUnavailable,
}

/// What a finished request used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Used {
    /// Prompt tokens (as the backend reported them).
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Pixels of pictures that were not video frames.
    pub still_pixels: u64,
    /// Pixels of video frames.
    pub frame_pixels: u64,
    /// Milliseconds of audio.
    pub audio_ms: u64,
    /// Video frames.
    pub video_frames: u64,
    /// Whether the token counts came from the answer; if not, the estimate charged at admission
    /// stands in the token window.
    pub tokens_reported: bool,
}

/// Authentication, limits, budgets and usage, over a [`TenantStore`].
pub struct Gatekeeper {
    store: Arc<dyn TenantStore>,
    /// Where counting goes while the store is away (fail-open).
    local: MemoryStore,
    /// The config's keys, teams and prices: replaced whole when the config is reloaded.
    declared: std::sync::RwLock<Arc<Declared>>,
    policy: StorePolicy,
    store_timeout: Duration,
    key_cache_ttl: Duration,
    lease: Duration,
    cache: Mutex<FxHashMap<SecretHash, CachedKey>>,
    /// Writes settlements in batches, off the requests' paths.
    settler: OnceLock<Settler>,
    store_down: Arc<AtomicBool>,
    /// Quota leases, when enabled.
    leases: Option<Leases>,
    /// Makes request ids unique within the process (with its start time, across processes).
    sequence: AtomicU64,
    epoch: u64,
    /// When the store failed last, the earliest time (ms after `started`) it is asked again; 0
    /// while it answers.
    probe_at_ms: AtomicU64,
    /// tokio's clock, so tests can move it.
    started: tokio::time::Instant,
}

/// How long a store that failed is left alone before one request tries it again.
pub const RETRY_STORE_AFTER: Duration = Duration::from_millis(500);

impl Gatekeeper {
    /// A gatekeeper over `store`.
    pub fn new(store: Arc<dyn TenantStore>, settings: Settings) -> Self {
        let declared = Declared::new(settings.config_keys, settings.teams, settings.prices);
        let mut random = [0u8; 8];
        let epoch = match getrandom::fill(&mut random) {
            Ok(()) => u64::from_le_bytes(random),
            Err(_) => unix_ms(),
        };
        Self {
            store,
            local: MemoryStore::new(),
            declared: std::sync::RwLock::new(Arc::new(declared)),
            policy: settings.policy,
            store_timeout: settings.store_timeout,
            key_cache_ttl: settings.key_cache,
            lease: settings.lease,
            cache: Mutex::new(FxHashMap::default()),
            settler: OnceLock::new(),
            store_down: Arc::new(AtomicBool::new(false)),
            leases: settings.quota_lease.map(Leases::new),
            sequence: AtomicU64::new(0),
            epoch,
            probe_at_ms: AtomicU64::new(0),
            started: tokio::time::Instant::now(),
        }
    }

    /// Runs a store call under the store timeout (for the admin API).
    pub async fn with_store<T, F>(
        &self,
        call: impl FnOnce(Arc<dyn TenantStore>) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        self.call(call(Arc::clone(&self.store))).await
    }

    /// Whether the last call to the store failed.
    pub fn store_down(&self) -> bool {
        self.store_down.load(Ordering::Relaxed)
    }

    /// Checks and charges `charge` against the key's and its team's limits and budgets.
    pub async fn admit(
        &self,
        principal: &Principal,
        model: &str,
        charge: Charge,
    ) -> Result<Ticket, Denial> {
        let key = &principal.key;
        let declared = self.declared();
        // Most requests of a leased key end here: no store, no admission to build.
        if let Some(leases) = &self.leases
            && let Some((taken, refill)) = leases.take(key, &declared, &charge)
        {
            let ticket = Ticket::new(String::new(), key, model, charge).leased(taken);
            if refill {
                Box::pin(self.refill_lease(leases, &declared, key, &charge)).await;
            }
            return Ok(ticket);
        }
        // The rest waits for the store: boxed, so that the futures of the requests that never
        // get here (and of the route handlers awaiting them) stay small to move.
        Box::pin(self.admit_through_store(principal, model, charge, declared)).await
    }

    /// Admits by asking the store (or taking a new lease from it).
    async fn admit_through_store(
        &self,
        principal: &Principal,
        model: &str,
        charge: Charge,
        declared: Arc<Declared>,
    ) -> Result<Ticket, Denial> {
        let key = &principal.key;
        let request_id = self.next_id();
        let now_secs = unix_ms() / 1000;
        let mut admission = Admission {
            request_id: request_id.clone(),
            now_ms: None,
            windows: Vec::new(),
            concurrency: Vec::new(),
            lease_ms: self.lease.as_millis() as u64,
            budgets: Vec::new(),
        };
        let mut soft = Vec::new();
        for (scope, limits, budget) in declared.scopes(key) {
            let scope = scope.scope();
            push_windows(&mut admission.windows, &scope, limits, &charge);
            if let Some(limit) = limits.max_concurrent {
                admission.concurrency.push(ConcurrencyCheck {
                    scope: scope.clone(),
                    limit,
                });
            }
            if let Some(budget) = budget {
                let (period, _) = budget.period.at(now_secs);
                admission.budgets.push(BudgetCheck {
                    scope: scope.clone(),
                    period,
                    hard_micros: budget.hard_usd.map(micros),
                });
                soft.push(budget.soft_usd.map(micros));
            }
        }
        let nothing_to_check = admission.windows.is_empty()
            && admission.concurrency.is_empty()
            && admission.budgets.is_empty();
        let mut ticket = Ticket::new(request_id, key, model, charge);
        if nothing_to_check {
            return Ok(ticket);
        }
        if let Some(leases) = &self.leases
            && admission.concurrency.is_empty()
            && admission.budgets.is_empty()
        {
            return self
                .admit_leased(leases, &declared, admission, ticket)
                .await;
        }
        let verdict = self.admit_in_store(&admission, &mut ticket).await?;
        match verdict {
            Verdict::Admitted {
                windows,
                spent_micros,
            } => {
                ticket.windows = windows;
                ticket.soft_budget_passed = admission
                    .budgets
                    .iter()
                    .zip(spent_micros)
                    .zip(soft)
                    .find_map(|((check, spent), soft)| {
                        soft.filter(|soft| spent >= *soft)
                            .map(|soft| (check.scope.clone(), spent, soft))
                    });
                Ok(ticket)
            }
            Verdict::Refused(refusal) => Err(Denial::Limited(refusal)),
        }
    }

    /// Unique within the process (and, with its random epoch, across processes).
    fn next_id(&self) -> String {
        format!(
            "{:016x}-{}",
            self.epoch,
            self.sequence.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Asks the store, or (by the outage policy) this process's memory when it is away.
    async fn admit_in_store(
        &self,
        admission: &Admission,
        ticket: &mut Ticket,
    ) -> Result<Verdict, Denial> {
        match self.call(self.store.admit(admission)).await {
            Ok(verdict) => Ok(verdict),
            Err(err) => match self.policy {
                StorePolicy::FailClosed => {
                    tracing::warn!(error = %err, "state store unavailable: refusing (fail_closed)");
                    Err(Denial::StoreUnavailable)
                }
                StorePolicy::FailOpen => {
                    tracing::warn!(error = %err, "state store unavailable: counting locally (fail_open)");
                    ticket.degraded = true;
                    self.local
                        .admit(admission)
                        .await
                        .map_err(|_| Denial::StoreUnavailable)
                }
            },
        }
    }

    /// Settles an admitted request: corrects its token charge to what it used, frees its
    /// concurrency slot, adds its spend and records its usage, through the settler (batched,
    /// off the request's path; what the store cannot take now is written once it is back).
    /// Its usage is also logged as one structured line.
    pub fn settle(&self, ticket: Ticket, used: Used) {
        let Ticket {
            request_id,
            key,
            model,
            charge,
            lease,
            degraded,
            ..
        } = ticket;
        let declared = self.declared();
        let prices = declared.prices.get(&model);
        let mut record = UsageRecord {
            key_id: key.id.clone(),
            team: key.team.clone(),
            model,
            at_secs: unix_ms() / 1000,
            prompt_tokens: used.prompt_tokens,
            completion_tokens: used.completion_tokens,
            image_pixels: used.still_pixels + used.frame_pixels,
            audio_ms: used.audio_ms,
            video_frames: used.video_frames,
            spend_micros: 0,
        };
        if let Some(prices) = prices {
            record.spend_micros = prices.cost_micros(&record, used.still_pixels);
        }
        let mut settlement = Settlement {
            request_id,
            corrections: Vec::new(),
            releases: Vec::new(),
            spend: Vec::new(),
            usage: None,
        };
        let tokens = used.prompt_tokens + used.completion_tokens;
        if let Some(lease) = &lease
            && used.tokens_reported
            && let Some(correction) = lease.reconcile(Dimension::Tokens, charge.tokens, tokens)
        {
            self.settler().send(Message::Settle {
                settlement: correction,
                degraded: false,
            });
        }
        for (scope, limits, budget) in declared.scopes(&key) {
            if limits.tokens_per_minute.is_some()
                && lease.is_none()
                && used.tokens_reported
                && tokens != charge.tokens
            {
                settlement.corrections.push(Correction {
                    scope: scope.scope(),
                    dimension: Dimension::Tokens,
                    amount: tokens,
                });
            }
            if limits.max_concurrent.is_some() {
                settlement.releases.push(scope.scope());
            }
            if let Some(budget) = budget
                && record.spend_micros > 0
            {
                settlement.spend.push(Spend {
                    scope: scope.scope(),
                    period: budget.period.at(record.at_secs).0,
                    micros: record.spend_micros,
                });
            }
        }
        tracing::info!(
            target: "omnigate::usage",
            key = %record.key_id,
            team = record.team.as_deref().unwrap_or(""),
            model = %record.model,
            prompt_tokens = record.prompt_tokens,
            completion_tokens = record.completion_tokens,
            image_pixels = record.image_pixels,
            audio_ms = record.audio_ms,
            video_frames = record.video_frames,
            spend_usd = crate::usage::dollars(record.spend_micros),
            degraded,
            "usage"
        );
        settlement.usage = Some(record);
        if degraded {
            settler::settle_locally(&self.local, &settlement);
        }
        self.settler().send(Message::Settle {
            settlement,
            degraded,
        });
    }

    /// The settler, started on first use (it needs a runtime).
    fn settler(&self) -> &Settler {
        self.settler.get_or_init(|| {
            Settler::start(
                Arc::clone(&self.store),
                self.store_timeout,
                Arc::clone(&self.store_down),
            )
            .unwrap_or_else(Settler::closed)
        })
    }

    /// Waits until every request settled so far has been written to the store (or kept for
    /// when it is back).
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        self.settler().send(Message::Flush(done));
        let _ = written.await;
    }

    /// Runs a store call under the store timeout, noting whether the store answered.
    ///
    /// A store that just failed is not asked again for [`RETRY_STORE_AFTER`]: requests get the
    /// outage policy at once instead of each waiting out the timeout; then one request (the
    /// first to claim the probe) tries the store, and its answer decides for the others.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let now = self.started.elapsed().as_millis() as u64;
        let probe_at = self.probe_at_ms.load(Ordering::Acquire);
        if probe_at != 0 {
            let claimed = now >= probe_at
                && self
                    .probe_at_ms
                    .compare_exchange(
                        probe_at,
                        now + RETRY_STORE_AFTER.as_millis() as u64,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok();
            if !claimed {
                return Err(StoreError::Unavailable(
                    "the state store failed moments ago; not asked again yet".to_owned(),
                ));
            }
        }
        let result = match tokio::time::timeout(self.store_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {:?}",
                self.store_timeout
            ))),
        };
        let down = matches!(result, Err(StoreError::Unavailable(_)));
        self.store_down.store(down, Ordering::Relaxed);
        let next_probe = if down {
            // 0 means "up": a probe time is never 0.
            (self.started.elapsed() + RETRY_STORE_AFTER).as_millis() as u64
        } else {
            0
        };
        self.probe_at_ms.store(next_probe, Ordering::Release);
        result
    }
}

/// The windows a request of `charge` is checked in for `scope`: every per-minute limit of
/// `limits`, requests always, the others when the request has some of them.
fn push_windows(windows: &mut Vec<WindowCheck>, scope: &Scope, limits: &Limits, charge: &Charge) {
    for dimension in Dimension::ALL {
        let amount = charge.amount(dimension);
        if let Some(limit) = limits.per_minute(dimension)
            && (amount > 0 || dimension == Dimension::Requests)
        {
            windows.push(WindowCheck {
                scope: scope.clone(),
                dimension,
                limit,
                amount,
            });
        }
    }
}

pub(crate) mod keys;
#[cfg(test)]
mod lease_tests;
mod leasing;
#[cfg(test)]
mod test_store;
#[cfg(test)]
mod tests;
