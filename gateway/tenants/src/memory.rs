//! The single-node store: every counter in this process's memory, behind one lock (an admission
//! is a few map lookups and deque pushes; the lock is never held across an await). Replicas each
//! keep their own, so their limits add up: use [`crate::RedisStore`] for more than one.

use crate::key::{KeyRecord, SecretHash};
use crate::limits::{Dimension, WINDOW};
use crate::store::{
    Admission, Refusal, Scope, Settlement, Spend, StoreError, TenantStore, Verdict, WindowState,
};
use crate::usage::{Totals, USAGE_RETENTION_SECS, UsageBucket, UsageRecord, hour_of};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Counters, spend, usage and API-made keys in process memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    windows: HashMap<(Scope, Dimension), Window>,
    /// Per scope: request id → lease expiry (unix ms).
    leases: HashMap<Scope, HashMap<String, u64>>,
    /// (scope, period) → micro-dollars.
    spend: HashMap<(Scope, String), u64>,
    /// (hour, key, model) → (team, totals).
    usage: BTreeMap<(u64, String, String), (String, Totals)>,
    /// The newest hour written: buckets older than the retention before it are dropped.
    newest_hour: u64,
    keys: HashMap<String, KeyRecord>,
    /// Secret digest → key id.
    by_hash: HashMap<SecretHash, String>,
}

/// One sliding window: its charges, oldest first, and their sum.
#[derive(Default)]
struct Window {
    charges: VecDeque<Charge>,
    sum: u64,
}

struct Charge {
    at_ms: u64,
    request_id: String,
    amount: u64,
}

const WINDOW_MS: u64 = WINDOW.as_millis() as u64;

impl Window {
    /// Drops the charges that have left the window at `now_ms`.
    fn expire(&mut self, now_ms: u64) {
        while let Some(oldest) = self.charges.front() {
            if oldest.at_ms + WINDOW_MS > now_ms {
                break;
            }
            self.sum -= oldest.amount;
            self.charges.pop_front();
        }
    }

    /// Milliseconds until `needed` more fits under `limit`; `None` if it never can.
    fn wait_for(&self, needed: u64, limit: u64, now_ms: u64) -> Option<u64> {
        if needed > limit {
            return None;
        }
        let mut over = (self.sum + needed).saturating_sub(limit);
        for charge in &self.charges {
            if over == 0 {
                break;
            }
            over = over.saturating_sub(charge.amount);
            if over == 0 {
                return Some((charge.at_ms + WINDOW_MS).saturating_sub(now_ms));
            }
        }
        Some(0)
    }

    fn reset_ms(&self, now_ms: u64) -> u64 {
        self.charges.front().map_or(0, |oldest| {
            (oldest.at_ms + WINDOW_MS).saturating_sub(now_ms)
        })
    }
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`TenantStore::settle`], without the async: for the gatekeeper's local counting.
    pub(crate) fn settle_now(&self, settlement: &Settlement) {
        let mut state = self.lock();

        for correction in &settlement.corrections {
            let Some(window) = state
                .windows
                .get_mut(&(correction.scope.clone(), correction.dimension))
            else {
                continue;
            };
            if let Some(charge) = window
                .charges
                .iter_mut()
                .find(|c| c.request_id == settlement.request_id)
            {
                window.sum = window.sum - charge.amount + correction.amount;
                charge.amount = correction.amount;
            }
        }
        for scope in &settlement.releases {
            if let Some(leases) = state.leases.get_mut(scope) {
                leases.remove(&settlement.request_id);
            }
        }
        state.record(&settlement.spend, settlement.usage.as_slice());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters that are still counters: keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn admit(&mut self, admission: &Admission, now_ms: u64) -> Verdict {
        for check in &admission.windows {
            let window = self
                .windows
                .entry((check.scope.clone(), check.dimension))
                .or_default();
            window.expire(now_ms);
            if window.sum + check.amount > check.limit {
                return Verdict::Refused(Refusal::Window {
                    state: WindowState {
                        scope: check.scope.clone(),
                        dimension: check.dimension,
                        limit: check.limit,
                        remaining: check.limit.saturating_sub(window.sum),
                        reset_ms: window.reset_ms(now_ms),
                    },
                    retry_after_ms: window.wait_for(check.amount, check.limit, now_ms),
                });
            }
        }
        for check in &admission.concurrency {
            let leases = self.leases.entry(check.scope.clone()).or_default();
            leases.retain(|_, expiry| *expiry > now_ms);
            if leases.len() as u64 >= check.limit {
                return Verdict::Refused(Refusal::Concurrency {
                    scope: check.scope.clone(),
                    limit: check.limit,
                });
            }
        }
        let mut spent_micros = Vec::with_capacity(admission.budgets.len());
        for check in &admission.budgets {
            let spent = self
                .spend
                .get(&(check.scope.clone(), check.period.clone()))
                .copied()
                .unwrap_or(0);
            if let Some(hard) = check.hard_micros
                && spent >= hard
            {
                return Verdict::Refused(Refusal::Budget {
                    scope: check.scope.clone(),
                    spent_micros: spent,
                    hard_micros: hard,
                });
            }
            spent_micros.push(spent);
        }
        // Every check passed: charge them all.
        let mut windows = Vec::with_capacity(admission.windows.len());
        for check in &admission.windows {
            let window = self
                .windows
                .entry((check.scope.clone(), check.dimension))
                .or_default();
            window.charges.push_back(Charge {
                at_ms: now_ms,
                request_id: admission.request_id.clone(),
                amount: check.amount,
            });
            window.sum += check.amount;
            windows.push(WindowState {
                scope: check.scope.clone(),
                dimension: check.dimension,
                limit: check.limit,
                remaining: check.limit.saturating_sub(window.sum),
                reset_ms: window.reset_ms(now_ms),
            });
        }
        for check in &admission.concurrency {
            self.leases
                .entry(check.scope.clone())
                .or_default()
                .insert(admission.request_id.clone(), now_ms + admission.lease_ms);
        }
        Verdict::Admitted {
            windows,
            spent_micros,
        }
    }

    fn record(&mut self, spend: &[Spend], records: &[UsageRecord]) {
        for spend in spend {
            *self
                .spend
                .entry((spend.scope.clone(), spend.period.clone()))
                .or_default() += spend.micros;
        }
        for record in records {
            let key = (
                hour_of(record.at_secs),
                record.key_id.clone(),
                record.model.clone(),
            );
            let hour = key.0;
            let (team, totals) = self.usage.entry(key).or_default();
            if let Some(name) = &record.team {
                name.clone_into(team);
            }
            totals.add(&Totals::of(record));
            if hour > self.newest_hour {
                self.newest_hour = hour;
                let cutoff = hour.saturating_sub(USAGE_RETENTION_SECS);
                self.usage = self
                    .usage
                    .split_off(&(cutoff, String::new(), String::new()));
            }
        }
    }
}

#[async_trait]
impl TenantStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn admit(&self, admission: &Admission) -> Result<Verdict, StoreError> {
        let now_ms = admission.now_ms.unwrap_or_else(unix_ms);
        Ok(self.lock().admit(admission, now_ms))
    }

    async fn settle(&self, settlement: &Settlement) -> Result<(), StoreError> {
        self.settle_now(settlement);
        Ok(())
    }

    async fn reconcile(&self, spend: &[Spend], records: &[UsageRecord]) -> Result<(), StoreError> {
        self.lock().record(spend, records);
        Ok(())
    }

    async fn usage(
        &self,
        key_id: Option<&str>,
        from_secs: u64,
        to_secs: u64,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        let state = self.lock();
        Ok(state
            .usage
            .range((hour_of(from_secs), String::new(), String::new())..)
            .take_while(|((hour, _, _), _)| *hour < to_secs)
            .filter(|((_, key, _), _)| key_id.is_none_or(|id| id == key))
            .map(|((hour, key, model), (team, totals))| UsageBucket {
                hour: *hour,
                key_id: key.clone(),
                team: team.clone(),
                model: model.clone(),
                totals: *totals,
            })
            .collect())
    }

    async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(old) = state.keys.insert(record.id.clone(), record.clone()) {
            state.by_hash.remove(&old.secret_hash);
        }
        state
            .by_hash
            .insert(record.secret_hash.clone(), record.id.clone());
        Ok(())
    }

    async fn key_by_hash(&self, hash: &SecretHash) -> Result<Option<KeyRecord>, StoreError> {
        let state = self.lock();
        Ok(state
            .by_hash
            .get(hash)
            .and_then(|id| state.keys.get(id))
            .cloned())
    }

    async fn key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock().keys.get(id).cloned())
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut keys: Vec<KeyRecord> = self.lock().keys.values().cloned().collect();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(keys)
    }

    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(old) = state.keys.remove(id) else {
            return Ok(false);
        };
        state.by_hash.remove(&old.secret_hash);
        Ok(true)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;

    #[tokio::test]
    async fn the_memory_store_passes_the_conformance_suite() {
        crate::conformance::run_all(&MemoryStore::new()).await;
    }
}
