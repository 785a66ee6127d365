//! The shared store: limits, leases, budgets, usage and API-made keys in Redis 7 or Valkey, so
//! that every replica of the gateway counts against the same windows. Each hot-path call is one
//! round trip: `admit` and `settle` are single Lua scripts (atomic on the server), with the same
//! semantics as [`crate::MemoryStore`] and checked by the same conformance suite.
//!
//! Every call is bounded by a timeout, so a dead or stalled server yields
//! [`StoreError::Unavailable`] quickly and the gatekeeper's policy decides; the
//! [`ConnectionManager`] reconnects on its own once the server is back.
//!
//! Key layout (every name starts with the configured prefix; a scope is `key:ID` or `team:NAME`):
//!
//! | key                              | type   | holds                                            |
//! |----------------------------------|--------|--------------------------------------------------|
//! | `win:{dimension}:{scope}`        | zset   | request id → charge time (ms)                    |
//! | `win-amount:{dimension}:{scope}` | hash   | request id → amount charged                      |
//! | `win-sum:{dimension}:{scope}`    | string | the window's running sum                         |
//! | `lease:{scope}`                  | zset   | request id → lease expiry (ms)                   |
//! | `spend:{scope}:{period}`         | string | micro-dollars spent in the period                |
//! | `usage:{hour}:{len}:{key}:{model}` | hash | team, key, model, hour and the [`Totals::FIELDS`] |
//! | `usage-index:{key}`, `usage-index` | zset | bucket names → hour (one key's, everyone's)      |
//! | `key:{id}`                       | string | the [`KeyRecord`] as JSON                        |
//! | `keyhash:{hex digest}`           | string | the id of the key with that secret digest        |
//! | `keys`                           | set    | every stored key's id                            |
//!
//! The dimension or scope comes last in the window names and a length prefixes the key id in
//! bucket names, so no two scopes, keys or models can share a name whatever `:` they contain.
//! Windows and lease sets expire when idle; spend, usage and keys are kept.

use crate::key::{KeyRecord, SecretHash};
use crate::limits::Dimension;
use crate::store::{Admission, Scope, Settlement, Spend, StoreError, TenantStore, Verdict};
use crate::usage::{Totals, UsageBucket, UsageRecord, hour_of};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult, Script};
use reply::{bucket, corrupt, key_record, verdict};
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

mod reply;

/// The longest any call (connecting included) waits for the server before answering
/// [`StoreError::Unavailable`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Lua numbers are doubles: window amounts and limits are clamped to what they hold exactly
/// (2^53 - 1, some nine quadrillion tokens or pixels a minute; nothing real comes close).
const MAX_EXACT: u64 = (1 << 53) - 1;

/// Limits, leases, budgets, usage and API-made keys in Redis or Valkey, shared by replicas.
pub struct RedisStore {
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Made on first use, so a gateway can start while Redis is down; a failed attempt leaves
    /// it empty and the next call tries again.
    conn: tokio::sync::OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    scripts: Scripts,
}

/// The Lua scripts, hashed once; sent by SHA (EVALSHA), and loaded again by the client when a
/// restarted server has forgotten them.
struct Scripts {
    admit: Script,
    record: Script,
    put_key: Script,
    delete_key: Script,
    key_by_hash: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            admit: Script::new(include_str!("redis_store/admit.lua")),
            record: Script::new(include_str!("redis_store/record.lua")),
            put_key: Script::new(include_str!("redis_store/put_key.lua")),
            delete_key: Script::new(include_str!("redis_store/delete_key.lua")),
            key_by_hash: Script::new(include_str!("redis_store/key_by_hash.lua")),
        }
    }
}

impl fmt::Debug for RedisStore {
    // The connection's own Debug would print the URL, password included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`; plain TCP, no TLS), naming
    /// every key with `prefix` (e.g. `omnigate:`), within [`DEFAULT_TIMEOUT`].
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        Self::connect_with_timeout(url, prefix, DEFAULT_TIMEOUT).await
    }

    /// As [`Self::connect`], with every call (connecting included) bounded by `timeout`.
    pub async fn connect_with_timeout(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<RedisStore, StoreError> {
        let store = Self::open(url, prefix, timeout)?;
        store.connection().await?;
        Ok(store)
    }

    /// A store for `url` that connects on first use (and again on each later call until it
    /// succeeds): what a gateway starting during a Redis outage needs. Only the URL is checked
    /// here.
    pub fn open(url: &str, prefix: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        // The URL may carry a password: say what is wrong with it, never what it is.
        let client = redis::Client::open(url).map_err(|e| {
            StoreError::Unavailable(format!("the Redis URL is not usable ({})", e.category()))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout / 2))
            .set_response_timeout(Some(timeout))
            // Few, short reconnect attempts: callers are bounded by `timeout` anyway, and a
            // failed round of attempts is started again by the next call.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        Ok(Self {
            client,
            config,
            conn: tokio::sync::OnceCell::new(),
            prefix: prefix.to_owned(),
            timeout,
            scripts: Scripts::new(),
        })
    }

    /// The connection, made now if it was not yet.
    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        self.conn
            .get_or_try_init(|| {
                bounded(
                    self.timeout,
                    ConnectionManager::new_with_config(self.client.clone(), self.config.clone()),
                )
            })
            .await
            .cloned()
    }

    fn named(&self, rest: fmt::Arguments<'_>) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// The prefix and `parts` joined, without the formatter: the names of a window's, lease's
    /// and budget's keys are made for every admission and settlement.
    fn joined(&self, parts: &[&str]) -> Vec<u8> {
        let length = self.prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut name = Vec::with_capacity(length);
        name.extend_from_slice(self.prefix.as_bytes());
        for part in parts {
            name.extend_from_slice(part.as_bytes());
        }
        name
    }

    /// The charges zset, amounts hash and running sum of one window.
    fn window_keys(&self, scope: &Scope, dimension: Dimension) -> [Vec<u8>; 3] {
        let (d, s) = (dimension.name(), scope.as_str());
        [
            self.joined(&["win:", d, ":", s]),
            self.joined(&["win-amount:", d, ":", s]),
            self.joined(&["win-sum:", d, ":", s]),
        ]
    }

    fn lease_key(&self, scope: &Scope) -> Vec<u8> {
        self.joined(&["lease:", scope.as_str()])
    }

    fn spend_key(&self, scope: &Scope, period: &str) -> Vec<u8> {
        // Periods (`2026-12`, `total`) hold no `:`, so the last one splits scope from period.
        self.joined(&["spend:", scope.as_str(), ":", period])
    }

    fn usage_index(&self, key_id: Option<&str>) -> String {
        match key_id {
            Some(id) => self.named(format_args!("usage-index:{id}")),
            None => self.named(format_args!("usage-index")),
        }
    }

    fn bucket_key(&self, record: &UsageRecord) -> String {
        let (hour, key, model) = (hour_of(record.at_secs), &record.key_id, &record.model);
        self.named(format_args!("usage:{hour}:{}:{key}:{model}", key.len()))
    }

    fn record_key(&self, id: &str) -> String {
        self.named(format_args!("key:{id}"))
    }

    fn hash_key(&self, hash: &SecretHash) -> String {
        self.named(format_args!("keyhash:{}", hash.as_str()))
    }

    /// Runs one call against the server within the timeout.
    async fn call<T>(&self, call: impl Future<Output = RedisResult<T>>) -> Result<T, StoreError> {
        bounded(self.timeout, call).await
    }

    /// Adds spend and usage records to `invocation`'s keys and arguments (the tail of
    /// `record.lua`'s layout).
    /// One `record` invocation for a whole batch: corrections and releases need their request's
    /// id, so each request that has any gets its own invocation; spend and usage of the whole
    /// batch are summed first (one bucket update per key, model and hour) and go in one more.
    /// Every invocation travels in one pipeline: one round trip.
    async fn settle_batch(&self, batch: &[Settlement]) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        // A restarted server has forgotten the script; EVALSHA in a pipeline is not retried
        // with the source, so load it first (cheap: the server only hashes it).
        pipe.load_script(&self.scripts.record).ignore();
        let mut invocations = Vec::new();
        for settlement in batch {
            if settlement.corrections.is_empty() && settlement.releases.is_empty() {
                continue;
            }
            let mut invocation = self.scripts.record.prepare_invoke();
            invocation
                .arg(&settlement.request_id)
                .arg(settlement.corrections.len())
                .arg(settlement.releases.len())
                .arg(0)
                .arg(0);
            for correction in &settlement.corrections {
                for key in self.window_keys(&correction.scope, correction.dimension) {
                    invocation.key(key);
                }
                invocation.arg(correction.amount.min(MAX_EXACT));
            }
            for scope in &settlement.releases {
                invocation.key(self.lease_key(scope));
            }
            invocations.push(invocation);
        }
        // Fx, not SipHash: these keys come from this gateway's own config and records.
        let mut spend: FxHashMap<(&Scope, &str), u64> = FxHashMap::default();
        let mut usage: FxHashMap<(u64, &str, &str), (Option<&String>, Totals)> =
            FxHashMap::default();
        for settlement in batch {
            for s in &settlement.spend {
                *spend.entry((&s.scope, s.period.as_str())).or_default() += s.micros;
            }
            let Some(record) = &settlement.usage else {
                continue;
            };
            let entry = usage
                .entry((hour_of(record.at_secs), &record.key_id, &record.model))
                .or_default();
            if record.team.is_some() {
                entry.0 = record.team.as_ref();
            }
            entry.1.add(&Totals::of(record));
        }
        let spend: Vec<Spend> = spend
            .into_iter()
            .map(|((scope, period), micros)| Spend {
                scope: scope.clone(),
                period: period.to_owned(),
                micros,
            })
            .collect();
        let mut totals = self.scripts.record.prepare_invoke();
        totals
            .arg("")
            .arg(0)
            .arg(0)
            .arg(spend.len())
            .arg(usage.len());
        let buckets: Vec<(UsageRecord, Totals)> = usage
            .into_iter()
            .map(|((hour, key_id, model), (team, totals))| {
                let record = UsageRecord {
                    key_id: key_id.to_owned(),
                    team: team.cloned(),
                    model: model.to_owned(),
                    at_secs: hour,
                    ..UsageRecord::default()
                };
                (record, totals)
            })
            .collect();
        self.push_totals(&mut totals, &spend, &buckets);
        invocations.push(totals);
        for invocation in &invocations {
            pipe.invoke_script(invocation).ignore();
        }
        let mut conn = self.connection().await?;
        let () = self.call(pipe.query_async(&mut conn)).await?;
        Ok(())
    }

    fn push_records(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        spend: &[Spend],
        records: &[UsageRecord],
    ) {
        let buckets: Vec<(UsageRecord, Totals)> = records
            .iter()
            .map(|record| (record.clone(), Totals::of(record)))
            .collect();
        self.push_totals(invocation, spend, &buckets);
    }

    /// Spend, then usage buckets (each a record naming its bucket and the totals to add).
    fn push_totals(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        spend: &[Spend],
        records: &[(UsageRecord, Totals)],
    ) {
        for spend in spend {
            invocation
                .key(self.spend_key(&spend.scope, &spend.period))
                .arg(spend.micros);
        }
        let all = self.usage_index(None);
        for (record, totals) in records {
            invocation
                .key(self.bucket_key(record))
                .key(self.usage_index(Some(&record.key_id)))
                .key(&all)
                .arg(hour_of(record.at_secs))
                .arg(&record.key_id)
                .arg(&record.model)
                .arg(u8::from(record.team.is_some()))
                .arg(record.team.as_deref().unwrap_or(""));
            for value in totals.values() {
                invocation.arg(value);
            }
        }
    }
}

/// `call`, or [`StoreError::Unavailable`] once `timeout` has passed.
async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(answer) => answer.map_err(|e| store_error(&e)),
        Err(_) => Err(StoreError::Unavailable(format!(
            "Redis did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// A reply we cannot read is corrupt; everything else (I/O, timeouts, refusals, a script that
/// failed on a key of the wrong type) is the store being unavailable for this call. A type error's
/// message quotes the reply (a stored record, say), so only its category is kept; the server's
/// and the socket's messages name commands and error codes, never arguments.
fn store_error(err: &RedisError) -> StoreError {
    match err.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => {
            StoreError::Corrupt(format!("{} in a reply", err.category()))
        }
        _ => StoreError::Unavailable(err.to_string()),
    }
}

#[async_trait]
impl TenantStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn admit(&self, admission: &Admission) -> Result<Verdict, StoreError> {
        let mut invocation = self.scripts.admit.prepare_invoke();
        invocation
            .arg(&admission.request_id)
            .arg(
                admission
                    .now_ms
                    .map(|ms| ms.to_string())
                    .unwrap_or_default(),
            )
            .arg(admission.lease_ms.min(MAX_EXACT))
            .arg(admission.windows.len())
            .arg(admission.concurrency.len())
            .arg(admission.budgets.len());
        for check in &admission.windows {
            for key in self.window_keys(&check.scope, check.dimension) {
                invocation.key(key);
            }
            invocation
                .arg(check.limit.min(MAX_EXACT))
                .arg(check.amount.min(MAX_EXACT));
        }
        for check in &admission.concurrency {
            invocation
                .key(self.lease_key(&check.scope))
                .arg(check.limit.min(MAX_EXACT));
        }
        for check in &admission.budgets {
            invocation
                .key(self.spend_key(&check.scope, &check.period))
                .arg(check.hard_micros.map(|h| h.to_string()).unwrap_or_default());
        }
        let mut conn = self.connection().await?;
        let reply: Vec<i64> = self.call(invocation.invoke_async(&mut conn)).await?;
        verdict(admission, &reply)
    }

    async fn settle(&self, settlement: &Settlement) -> Result<(), StoreError> {
        let mut invocation = self.scripts.record.prepare_invoke();
        invocation
            .arg(&settlement.request_id)
            .arg(settlement.corrections.len())
            .arg(settlement.releases.len())
            .arg(settlement.spend.len())
            .arg(settlement.usage.is_some() as usize);
        for correction in &settlement.corrections {
            for key in self.window_keys(&correction.scope, correction.dimension) {
                invocation.key(key);
            }
            invocation.arg(correction.amount.min(MAX_EXACT));
        }
        for scope in &settlement.releases {
            invocation.key(self.lease_key(scope));
        }
        self.push_records(
            &mut invocation,
            &settlement.spend,
            settlement.usage.as_slice(),
        );
        let mut conn = self.connection().await?;
        let _: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn settle_many(&self, settlements: &[Settlement]) -> Result<(), StoreError> {
        if settlements.is_empty() {
            return Ok(());
        }
        self.settle_batch(settlements).await
    }

    async fn reconcile(&self, spend: &[Spend], records: &[UsageRecord]) -> Result<(), StoreError> {
        if spend.is_empty() && records.is_empty() {
            return Ok(());
        }
        let mut invocation = self.scripts.record.prepare_invoke();
        invocation
            .arg("")
            .arg(0)
            .arg(0)
            .arg(spend.len())
            .arg(records.len());
        self.push_records(&mut invocation, spend, records);
        let mut conn = self.connection().await?;
        let _: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn usage(
        &self,
        key_id: Option<&str>,
        from_secs: u64,
        to_secs: u64,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        let mut conn = self.connection().await?;
        // Hours in [hour_of(from), to): `(` makes the upper bound exclusive.
        let names: Vec<String> = self
            .call(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.usage_index(key_id))
                    .arg(hour_of(from_secs))
                    .arg(format!("({to_secs}"))
                    .query_async(&mut conn),
            )
            .await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("HGETALL").arg(name);
        }
        let hashes: Vec<HashMap<String, String>> = self.call(pipe.query_async(&mut conn)).await?;
        let mut buckets = Vec::with_capacity(hashes.len());
        for fields in &hashes {
            if let Some(bucket) = bucket(fields)? {
                buckets.push(bucket);
            }
        }
        // The memory store's order: by hour, then key, then model.
        buckets.sort_by(|a, b| (a.hour, &a.key_id, &a.model).cmp(&(b.hour, &b.key_id, &b.model)));
        Ok(buckets)
    }

    async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(record)
            .map_err(|_| StoreError::Corrupt("a key record that cannot be written".into()))?;
        let mut invocation = self.scripts.put_key.prepare_invoke();
        invocation
            .key(self.record_key(&record.id))
            .key(self.named(format_args!("keys")))
            .key(self.hash_key(&record.secret_hash))
            .arg(json)
            .arg(&record.id)
            .arg(self.named(format_args!("keyhash:")));
        let mut conn = self.connection().await?;
        let _: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn key_by_hash(&self, hash: &SecretHash) -> Result<Option<KeyRecord>, StoreError> {
        let mut invocation = self.scripts.key_by_hash.prepare_invoke();
        invocation
            .key(self.hash_key(hash))
            .arg(self.named(format_args!("key:")));
        let mut conn = self.connection().await?;
        let json: Option<String> = self.call(invocation.invoke_async(&mut conn)).await?;
        let Some(record) = json.as_deref().map(key_record).transpose()? else {
            return Ok(None);
        };
        // The index and the record are written together; should they ever disagree, the
        // record's own digest is the truth.
        Ok(record.secret_hash.matches(hash).then_some(record))
    }

    async fn key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let mut conn = self.connection().await?;
        let json: Option<String> = self
            .call(
                redis::cmd("GET")
                    .arg(self.record_key(id))
                    .query_async(&mut conn),
            )
            .await?;
        json.as_deref().map(key_record).transpose()
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut conn = self.connection().await?;
        let ids: Vec<String> = self
            .call(
                redis::cmd("SMEMBERS")
                    .arg(self.named(format_args!("keys")))
                    .query_async(&mut conn),
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = ids.iter().map(|id| self.record_key(id)).collect();
        let jsons: Vec<Option<String>> = self
            .call(redis::cmd("MGET").arg(&names).query_async(&mut conn))
            .await?;
        // A record deleted between the two reads is simply not listed.
        let mut keys = jsons
            .iter()
            .flatten()
            .map(|json| key_record(json))
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(keys)
    }

    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        let mut invocation = self.scripts.delete_key.prepare_invoke();
        invocation
            .key(self.record_key(id))
            .key(self.named(format_args!("keys")))
            .arg(id)
            .arg(self.named(format_args!("keyhash:")));
        let mut conn = self.connection().await?;
        let existed: i64 = self.call(invocation.invoke_async(&mut conn)).await?;
        Ok(existed == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        let pong: String = self.call(redis::cmd("PING").query_async(&mut conn)).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(corrupt("PING"))
        }
    }
}

#[cfg(test)]
mod tests;
