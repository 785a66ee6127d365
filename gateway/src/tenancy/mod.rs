//! Tenants at the HTTP edge: the config's keys, teams and prices handed to the tenants crate's
//! [`Gatekeeper`], over the store the config names (Redis when `state.redis_url` is set, this
//! process's memory otherwise); the bearer check for virtual keys; and each request's admission
//! and settlement (see [`admission`]).
//!
//! `server.api_keys` keep working as before: operators' keys with no limits and no usage
//! records, checked first and without a store. Virtual keys (`[[keys]]`, `/admin/keys`) are
//! what tenants get.

pub mod admission;
pub mod headers;
pub mod stream_usage;

use crate::error::ApiError;
use omnigate_config::{Config, ConfigError};
use omnigate_tenants::gatekeeper::{AuthError, Principal, Settings, TeamPolicy};
use omnigate_tenants::key::{KeyRecord, KeyRefusal, KeySource};
use omnigate_tenants::lease::LeaseSettings;
use omnigate_tenants::{Gatekeeper, MemoryStore, RedisStore, TenantStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Why tenancy could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    /// A key or the store's settings are wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be set up.
    #[error("state.redis_url: {0}")]
    Store(omnigate_tenants::StoreError),
}

/// The gateway's tenancy: a gatekeeper and whether `/v1` needs a key.
pub struct Tenancy {
    gatekeeper: Arc<Gatekeeper>,
    /// Whether any virtual key exists (declared, made through the API, or possibly made by
    /// another replica when the store is shared): `/v1` then needs a key.
    keys_exist: AtomicBool,
}

impl Default for Tenancy {
    /// No keys, in memory: what a config without tenants gets.
    fn default() -> Self {
        Self::over(Arc::new(MemoryStore::new()), settings_without_keys(), false)
    }
}

fn settings_without_keys() -> Settings {
    Settings {
        config_keys: Vec::new(),
        teams: Default::default(),
        prices: Default::default(),
        policy: Default::default(),
        store_timeout: Duration::from_millis(250),
        key_cache: Duration::from_secs(1),
        lease: Duration::from_secs(900),
        quota_lease: None,
    }
}

impl Tenancy {
    fn over(store: Arc<dyn TenantStore>, settings: Settings, keys_exist: bool) -> Self {
        Self {
            gatekeeper: Arc::new(Gatekeeper::new(store, settings)),
            keys_exist: AtomicBool::new(keys_exist),
        }
    }

    /// The tenancy the config describes; connects to Redis when it names one (a store that does
    /// not answer at startup is not fatal: the policy applies until it does).
    pub async fn from_config(config: &Config) -> Result<Self, TenancyError> {
        let state = &config.state;
        let store: Arc<dyn TenantStore> = match &state.redis_url {
            Some(url) => {
                let url = url.resolve("state.redis_url")?;
                let timeout = Duration::from_secs_f64(state.timeout_ms / 1000.0);
                let store = RedisStore::open(url.expose(), &state.redis_prefix, timeout)
                    .map_err(TenancyError::Store)?;
                // Starting during an outage is allowed: `on_unavailable` applies until it ends.
                if let Err(err) = store.ping().await {
                    tracing::warn!(error = %err, policy = ?state.on_unavailable, "the state store does not answer yet");
                }
                Arc::new(store)
            }
            None => Arc::new(MemoryStore::new()),
        };
        let (config_keys, teams, prices) = declared(config)?;
        let keys_exist = !config_keys.is_empty()
            || state.redis_url.is_some()
            || store.keys().await.is_ok_and(|keys| !keys.is_empty());
        let settings = Settings {
            config_keys,
            teams,
            prices,
            policy: state.on_unavailable,
            store_timeout: Duration::from_secs_f64(state.timeout_ms / 1000.0),
            key_cache: Duration::from_secs_f64(state.key_cache_secs),
            lease: Duration::from_secs_f64(state.lease_secs),
            // Leases save round trips to a shared store; memory has none to save.
            quota_lease: (state.redis_url.is_some() && state.quota_lease > 1).then(|| {
                LeaseSettings {
                    max_requests: state.quota_lease,
                    ttl: Duration::from_secs_f64(state.quota_lease_ms / 1000.0),
                }
            }),
        };
        Ok(Self::over(store, settings, keys_exist))
    }

    /// Takes the keys, teams and prices of a reloaded `config` (the rest of the config, the
    /// store's settings included, stays as started). A config with an invalid key changes
    /// nothing.
    pub fn reload(&self, config: &Config) -> Result<(), TenancyError> {
        let (keys, teams, prices) = declared(config)?;
        if !keys.is_empty() {
            self.key_made();
        }
        tracing::info!(
            keys = keys.len(),
            teams = teams.len(),
            "keys, teams and prices reloaded"
        );
        self.gatekeeper.reload(keys, teams, prices);
        Ok(())
    }

    /// The gatekeeper.
    pub fn gatekeeper(&self) -> &Arc<Gatekeeper> {
        &self.gatekeeper
    }

    /// Whether `/v1` needs a virtual key (some exist).
    pub fn keys_exist(&self) -> bool {
        self.keys_exist.load(Ordering::Relaxed)
    }

    /// Notes that a key now exists (one was made through the admin API).
    pub fn key_made(&self) {
        self.keys_exist.store(true, Ordering::Relaxed);
    }

    /// The caller whose bearer token is `token`, or the error to answer.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        self.gatekeeper
            .authenticate(token)
            .await
            .map_err(|err| match err {
                AuthError::Invalid => ApiError::Unauthorized("Invalid API key."),
                AuthError::Refused(refusal) => {
                    let code = match refusal {
                        KeyRefusal::Disabled => "key_disabled",
                        KeyRefusal::Expired => "key_expired",
                        KeyRefusal::ModelNotAllowed(_) => "model_not_allowed",
                    };
                    ApiError::KeyRejected {
                        message: refusal.to_string(),
                        code,
                    }
                }
                AuthError::StoreUnavailable => store_unavailable(),
            })
    }
}

/// The config's keys (secrets hashed), teams and prices.
type Declared = (
    Vec<KeyRecord>,
    std::collections::HashMap<String, TeamPolicy>,
    std::collections::HashMap<String, omnigate_tenants::Prices>,
);

fn declared(config: &Config) -> Result<Declared, TenancyError> {
    let mut config_keys = Vec::with_capacity(config.keys.len());
    for (i, key) in config.keys.iter().enumerate() {
        let secret_hash = key.secret_hash(i)?;
        config_keys.push(KeyRecord {
            id: key.id.clone(),
            name: key.name.clone().unwrap_or_else(|| key.id.clone()),
            team: key.team.clone(),
            models: key.models.clone(),
            limits: key.limits,
            budget: key.budget,
            metadata: key.metadata.clone(),
            expires_at: key.expires_at,
            disabled: key.disabled,
            secret_hint: String::new(),
            secret_hash,
            created_at: 0,
            source: KeySource::Config,
        });
    }
    let teams = config
        .teams
        .iter()
        .map(|(name, team)| {
            (
                name.clone(),
                TeamPolicy {
                    limits: team.limits,
                    budget: team.budget,
                },
            )
        })
        .collect();
    let prices = config
        .models
        .iter()
        .filter_map(|(name, model)| model.prices.map(|p| (name.clone(), p)))
        .collect();
    Ok((config_keys, teams, prices))
}

/// The answer while the store is away under `fail_closed`.
pub fn store_unavailable() -> ApiError {
    ApiError::RetryLater {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        message: "The gateway's key and limit store is unavailable; retry later.".to_owned(),
        retry_after: Duration::from_secs(1),
    }
}
