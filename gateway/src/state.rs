//! Shared, read-only state handed to every handler: the model registry and server settings.

use crate::media::{MediaContract, Normalizer};
use crate::registry::{Deployment, ModelEntry, ModelSpec, Registry};
use crate::tenancy::Tenancy;
use omnigate_backend_factory::{BuildContext, BuildError};
use omnigate_backend_fleet::FleetWatch;
use omnigate_config::{BalanceStrategy, Config, ConfigError, RoutingConfig, Secret};
use omnigate_router::{
    Endpoint, HedgePolicy, OutlierPolicy, Pool, RetryPolicy, RoutingPolicy, Strategy,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    normalizer: Normalizer,
    settings: Settings,
    tenancy: Tenancy,
    /// The fleets `fleet` deployments name, by subject prefix, watched through their heartbeats.
    fleets: Vec<(String, FleetWatch)>,
    started_unix: u64,
}

/// Server settings handlers and layers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Requests handled at once before shedding.
    pub max_concurrent_requests: usize,
    /// Accepted bearer keys; empty means no authentication.
    pub api_keys: Vec<Secret>,
    /// Operators' bearer keys, for the admin views.
    pub admin_api_keys: Vec<Secret>,
    /// Deadline of each backend probe in `/ready`.
    pub readiness_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_concurrent_requests: 1024,
            api_keys: Vec::new(),
            admin_api_keys: Vec::new(),
            readiness_timeout: Duration::from_secs(2),
        }
    }
}

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A deployment could not be built.
    #[error(transparent)]
    Backend(#[from] BuildError),
    /// Tenants' keys or store could not be set up.
    #[error(transparent)]
    Tenancy(#[from] crate::tenancy::TenancyError),
    /// A fleet's NATS settings are wrong.
    #[error("{0}")]
    Fleet(String),
    /// The media machinery could not be set up.
    #[error("{0}")]
    Media(String),
}

impl AppState {
    /// State from parts (tests and embedding), without virtual keys.
    pub fn new(registry: Registry, settings: Settings, normalizer: Normalizer) -> Self {
        Self::with_tenancy(registry, settings, normalizer, Tenancy::default())
    }

    /// State from parts, with tenants.
    pub fn with_tenancy(
        registry: Registry,
        settings: Settings,
        normalizer: Normalizer,
        tenancy: Tenancy,
    ) -> Self {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            inner: Arc::new(Inner {
                registry,
                normalizer,
                settings,
                tenancy,
                fleets: Vec::new(),
                started_unix,
            }),
        }
    }

    /// Builds every deployment the config names (fetching embedded models' weights on their
    /// first start, and loading them).
    pub async fn from_config(config: &Config) -> Result<Self, StartupError> {
        let mut registry = Registry::default();
        let fetcher = omnigate_backend_factory::weights_fetcher(&config.weights)
            .map_err(StartupError::Media)?;
        for (name, model) in &config.models {
            let capabilities = omnigate_backend_factory::declared_capabilities(model);
            let contract = MediaContract::resolve(&config.media, model);
            let context = BuildContext {
                fetcher: &fetcher,
                image: &contract.image,
                audio: &contract.audio,
            };
            let mut deployments = Vec::with_capacity(model.deployments.len());
            let mut endpoints = Vec::with_capacity(model.deployments.len());
            for (i, deployment) in model.deployments.iter().enumerate() {
                let built =
                    omnigate_backend_factory::build(name, i, model, deployment, &context).await?;
                let deployment_name = deployment.name(i);
                endpoints.push(Endpoint::new(
                    deployment_name.clone(),
                    deployment.weight(),
                    deployment.max_in_flight(),
                ));
                deployments.push(Deployment {
                    backend: built.backend,
                    upstream_model: built.upstream_model,
                    probe_interval: deployment
                        .health_interval_secs()
                        .map(Duration::from_secs_f64),
                    name_header: axum::http::HeaderValue::from_str(&deployment_name).ok(),
                    name: deployment_name,
                });
            }
            let spec = ModelSpec {
                name: name.clone(),
                tasks: capabilities.tasks,
                modalities: capabilities.modalities,
                media: contract,
                fallbacks: model.fallbacks.clone(),
                context_window_fallbacks: model.context_window_fallbacks.clone(),
            };
            let pool = Pool::new(endpoints, routing_policy(&model.routing));
            registry.insert(ModelEntry::new(spec, deployments, pool));
        }
        let server = &config.server;
        let api_keys = server
            .api_keys
            .iter()
            .enumerate()
            .map(|(i, key)| key.resolve(&format!("server.api_keys[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let admin_api_keys = server
            .admin_api_keys
            .iter()
            .enumerate()
            .map(|(i, key)| key.resolve(&format!("server.admin_api_keys[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let settings = Settings {
            max_body_bytes: server.max_body_bytes,
            max_concurrent_requests: server.max_concurrent_requests,
            api_keys,
            admin_api_keys,
            readiness_timeout: Duration::from_secs_f64(server.readiness_timeout_secs),
        };
        let normalizer = Normalizer::new(&config.media).map_err(StartupError::Media)?;
        let tenancy = Tenancy::from_config(config).await?;
        let mut state = Self::with_tenancy(registry, settings, normalizer, tenancy);
        let fleets = watch_fleets(config).await?;
        if let Some(inner) = Arc::get_mut(&mut state.inner) {
            inner.fleets = fleets;
        }
        Ok(state)
    }

    /// The models.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The media pipeline.
    pub fn normalizer(&self) -> &Normalizer {
        &self.inner.normalizer
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The fleets watched, by subject prefix.
    pub fn fleets(&self) -> &[(String, FleetWatch)] {
        &self.inner.fleets
    }

    /// Virtual keys, their limits and usage.
    pub fn tenancy(&self) -> &Tenancy {
        &self.inner.tenancy
    }

    /// Unix time the gateway started (reported as models' `created`).
    pub fn started_unix(&self) -> u64 {
        self.inner.started_unix
    }
}

/// One watch per fleet (NATS URL and subject prefix) that a `fleet` deployment names. A fleet
/// whose NATS does not answer yet is watched once it does; it does not stop the gateway.
async fn watch_fleets(config: &Config) -> Result<Vec<(String, FleetWatch)>, StartupError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut fleets = Vec::new();
    for (name, model) in &config.models {
        for (i, deployment) in model.deployments.iter().enumerate() {
            let omnigate_config::DeploymentConfig::Fleet(fleet) = deployment else {
                continue;
            };
            if !seen.insert((
                fleet.nats.nats_url.clone(),
                fleet.nats.subject_prefix.clone(),
            )) {
                continue;
            }
            let key = format!("models.{name}.deployments[{i}]");
            let nats =
                omnigate_backend_factory::nats_settings(&fleet.nats, &key, "omnigate-gateway")
                    .map_err(StartupError::Fleet)?;
            match FleetWatch::start(nats, fleet.nats.subject_prefix.clone()).await {
                Ok(watch) => fleets.push((fleet.nats.subject_prefix.clone(), watch)),
                Err(err) => {
                    tracing::warn!(%err, fleet = %fleet.nats.subject_prefix, "cannot watch the fleet's heartbeats")
                }
            }
        }
    }
    Ok(fleets)
}

/// A model's `[routing]` table in the router's terms (the one place they are mapped).
fn routing_policy(config: &RoutingConfig) -> RoutingPolicy {
    let secs = Duration::from_secs_f64;
    let millis = |ms: f64| Duration::from_secs_f64(ms / 1000.0);
    RoutingPolicy {
        strategy: match config.strategy {
            BalanceStrategy::P2cEwma => Strategy::P2cEwma,
            BalanceStrategy::RoundRobin => Strategy::RoundRobin,
            BalanceStrategy::LeastInFlight => Strategy::LeastInFlight,
            BalanceStrategy::Weighted => Strategy::Weighted,
        },
        outlier: OutlierPolicy {
            consecutive_failures: config.consecutive_failures,
            failure_rate: config.failure_rate,
            min_requests: config.failure_min_requests,
            window: secs(config.failure_window_secs),
            base_ejection: secs(config.base_ejection_secs),
            max_ejection: secs(config.max_ejection_secs),
        },
        retry: RetryPolicy {
            max_attempts: config.max_attempts,
            per_try_timeout: secs(config.per_try_timeout_secs),
            deadline: secs(config.deadline_secs),
            budget_ratio: config.retry_budget_ratio,
            budget_min_per_sec: config.retry_budget_min_per_sec,
            budget_window: Duration::from_secs(10),
            backoff_base: millis(config.backoff_base_ms),
            backoff_max: millis(config.backoff_max_ms),
        },
        max_queued: config.max_queued,
        queue_timeout: secs(config.queue_timeout_secs),
        hedge: config.hedge.then(|| HedgePolicy {
            min_delay: millis(config.hedge_min_delay_ms),
        }),
    }
}
