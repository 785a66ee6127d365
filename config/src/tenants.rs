//! Tenants: `[state]` (where counters, budgets and API-made keys live), `[[keys]]` (virtual API
//! keys declared in the file) and `[teams.NAME]` (limits and budgets shared by a team's keys).
//! The limit, budget and price types are the tenants crate's own, parsed straight into them.

use crate::ConfigError;
use crate::secret::SecretRef;
use omnigate_tenants::gatekeeper::StorePolicy;
use omnigate_tenants::key::{Budget, check_patterns};
use omnigate_tenants::{Limits, Prices};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where shared state lives.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `redis://[:password@]host:port[/db]` of a Redis or Valkey shared by every replica
    /// (`env::NAME` keeps a password out of the file). Unset: this process's memory, right for
    /// one replica and lost on restart.
    #[serde(default)]
    pub redis_url: Option<SecretRef>,
    /// Prefix of every key this gateway writes in Redis.
    #[serde(default = "default_prefix")]
    pub redis_prefix: String,
    /// What happens while the store does not answer: `fail_open` (serve and count in memory,
    /// write usage once it is back) or `fail_closed` (503).
    #[serde(default)]
    pub on_unavailable: StorePolicy,
    /// Longest wait for the store on a request's path (milliseconds).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: f64,
    /// How long a key read from the store is trusted before it is read again: a key changed
    /// through another replica takes effect here within this long.
    #[serde(default = "default_key_cache_secs")]
    pub key_cache_secs: f64,
    /// A concurrency slot a replica never released (it died mid-request) is freed after this.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: f64,
    /// With Redis: most requests of a key (with only per-minute limits) one replica admits from
    /// a block of room it took in one round trip; 1 asks Redis on every request. Blocks shrink
    /// near a limit, so replicas never grant more than it between them.
    #[serde(default = "default_quota_lease")]
    pub quota_lease: u64,
    /// Longest a block admits before its unused room is handed back (milliseconds).
    #[serde(default = "default_quota_lease_ms")]
    pub quota_lease_ms: f64,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_prefix: default_prefix(),
            on_unavailable: StorePolicy::default(),
            timeout_ms: default_timeout_ms(),
            key_cache_secs: default_key_cache_secs(),
            lease_secs: default_lease_secs(),
            quota_lease: default_quota_lease(),
            quota_lease_ms: default_quota_lease_ms(),
        }
    }
}

fn default_prefix() -> String {
    "omnigate:".to_owned()
}
fn default_timeout_ms() -> f64 {
    250.0
}
fn default_key_cache_secs() -> f64 {
    1.0
}
fn default_lease_secs() -> f64 {
    900.0
}
fn default_quota_lease() -> u64 {
    64
}
fn default_quota_lease_ms() -> f64 {
    250.0
}

/// The longest `quota_lease_ms`: a block's requests count from its start, so a long block
/// would let a window slip by as much at its edge.
const MAX_QUOTA_LEASE_MS: f64 = 5000.0;

/// A virtual API key declared in the config file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Stable id: usage is recorded under it.
    pub id: String,
    /// A human name (defaults to the id).
    #[serde(default)]
    pub name: Option<String>,
    /// The secret (`env::NAME` keeps it out of the file)...
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// ...or only its SHA-256 digest (64 hex digits), so the file holds no secret at all.
    #[serde(default)]
    pub secret_sha256: Option<String>,
    /// The team whose limits and budget it shares.
    #[serde(default)]
    pub team: Option<String>,
    /// Glob patterns of the models it may call; absent: every model.
    #[serde(default)]
    pub models: Vec<String>,
    /// Its own limits.
    #[serde(default)]
    pub limits: Limits,
    /// Its own budget.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// Labels returned by the admin API.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Refused from this moment on (unix seconds).
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Refused while true.
    #[serde(default)]
    pub disabled: bool,
}

impl KeyConfig {
    /// The digest of its secret (resolving `env::`); `index` is its place in `[[keys]]`, for
    /// the error.
    pub fn secret_hash(&self, index: usize) -> Result<omnigate_tenants::SecretHash, ConfigError> {
        let at = format!("keys[{index}]");
        match (&self.secret, &self.secret_sha256) {
            (Some(secret), None) => Ok(omnigate_tenants::SecretHash::of(
                secret.resolve(&format!("{at}.secret"))?.expose(),
            )),
            (None, Some(hex)) => omnigate_tenants::SecretHash::from_hex(hex).ok_or_else(|| {
                ConfigError::invalid(
                    format!("{at}.secret_sha256"),
                    "must be 64 hex digits (the SHA-256 of the secret)",
                )
            }),
            _ => Err(ConfigError::invalid(
                at,
                "needs exactly one of `secret` and `secret_sha256`",
            )),
        }
    }
}

/// Limits and a budget shared by every key of a team.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Shared limits.
    #[serde(default)]
    pub limits: Limits,
    /// Shared budget.
    #[serde(default)]
    pub budget: Option<Budget>,
}

pub(crate) fn validate_state(state: &StateConfig) -> Result<(), ConfigError> {
    for (field, value) in [
        ("timeout_ms", state.timeout_ms),
        ("key_cache_secs", state.key_cache_secs),
        ("lease_secs", state.lease_secs),
        ("quota_lease_ms", state.quota_lease_ms),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(ConfigError::invalid(
                format!("state.{field}"),
                format!("{value} is not a positive number"),
            ));
        }
    }
    if state.quota_lease_ms > MAX_QUOTA_LEASE_MS {
        return Err(ConfigError::invalid(
            "state.quota_lease_ms",
            format!(
                "{} is more than {MAX_QUOTA_LEASE_MS} (a block's requests count from its start: \
                 a long block lets the minute's window slip)",
                state.quota_lease_ms
            ),
        ));
    }
    if state.quota_lease == 0 {
        return Err(ConfigError::invalid(
            "state.quota_lease",
            "must be at least 1 (1: every request asks the store)",
        ));
    }
    if state.redis_prefix.is_empty() {
        return Err(ConfigError::invalid(
            "state.redis_prefix",
            "must not be empty (two gateways sharing a Redis would mix their keys)",
        ));
    }
    Ok(())
}

pub(crate) fn validate_keys(
    keys: &[KeyConfig],
    teams: &BTreeMap<String, TeamConfig>,
) -> Result<(), ConfigError> {
    let mut ids = std::collections::HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let at = format!("keys[{i}]");
        if key.id.is_empty() || !key.id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                format!("{at}.id"),
                "must be non-empty visible ASCII without spaces",
            ));
        }
        if !ids.insert(key.id.as_str()) {
            return Err(ConfigError::invalid(
                format!("{at}.id"),
                format!("`{}` is the id of another key too", key.id),
            ));
        }
        key.secret_hash(i)?;
        check_patterns(&key.models).map_err(|e| ConfigError::invalid(format!("{at}.models"), e))?;
        check_limits(&format!("{at}.limits"), &key.limits)?;
        check_budget(&format!("{at}.budget"), key.budget.as_ref())?;
        if key.team.as_deref() == Some("") {
            return Err(ConfigError::invalid(
                format!("{at}.team"),
                "must not be empty",
            ));
        }
    }
    for (name, team) in teams {
        check_limits(&format!("teams.{name}.limits"), &team.limits)?;
        check_budget(&format!("teams.{name}.budget"), team.budget.as_ref())?;
    }
    Ok(())
}

pub(crate) fn check_prices(key: &str, prices: Option<&Prices>) -> Result<(), ConfigError> {
    if let Some(prices) = prices {
        prices
            .check()
            .map_err(|(field, why)| ConfigError::invalid(format!("{key}.{field}"), why))?;
    }
    Ok(())
}

fn check_limits(key: &str, limits: &Limits) -> Result<(), ConfigError> {
    limits
        .check()
        .map_err(|(field, why)| ConfigError::invalid(format!("{key}.{field}"), why))
}

fn check_budget(key: &str, budget: Option<&Budget>) -> Result<(), ConfigError> {
    let Some(budget) = budget else {
        return Ok(());
    };
    for (field, value) in [("hard_usd", budget.hard_usd), ("soft_usd", budget.soft_usd)] {
        if let Some(value) = value
            && !(value.is_finite() && value >= 0.0)
        {
            return Err(ConfigError::invalid(
                format!("{key}.{field}"),
                format!("{value} is not an amount of dollars"),
            ));
        }
    }
    if budget.hard_usd.is_none() && budget.soft_usd.is_none() {
        return Err(ConfigError::invalid(
            key,
            "names neither `hard_usd` nor `soft_usd`",
        ));
    }
    Ok(())
}
