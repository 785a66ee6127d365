//! Builds what serves the models from the config: at startup, and again on every reload. A
//! reload keeps what it did not change: a deployment that serves like before (same backend
//! settings, same model contract) keeps its running backend — its upstream connection pool, its
//! loaded weights and worker thread — and, if its weight and cap are unchanged too, the
//! router's live state of it (requests in flight, latency estimate, health).

use crate::media::MediaContract;
use crate::registry::{Deployment, ModelEntry, ModelSpec, Registry};
use omnigate_backend_factory::{BuildContext, BuildError};
use omnigate_config::{BalanceStrategy, Config, ConfigError, ModelConfig, RoutingConfig};
use omnigate_router::{
    Endpoint, HedgePolicy, OutlierPolicy, Pool, RetryPolicy, RoutingPolicy, Strategy,
};
use std::sync::Arc;
use std::time::Duration;

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

/// What a build made of each deployment, as `model/deployment` names.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Models that were not there before.
    pub added: Vec<String>,
    /// Models that are gone.
    pub removed: Vec<String>,
    /// Deployments built now (new, or changed in a way their backend sees).
    pub built: Vec<String>,
    /// Deployments whose running backend was kept.
    pub kept: Vec<String>,
}

/// The registry `config` describes, reusing what `previous` (the running config and the
/// registry built from it) already built where nothing that matters changed.
pub async fn registry(
    config: &Config,
    previous: Option<(&Config, &Registry)>,
) -> Result<(Registry, Changes), StartupError> {
    let mut registry = Registry::default();
    let mut changes = Changes::default();
    let fetcher =
        omnigate_backend_factory::weights_fetcher(&config.weights).map_err(StartupError::Media)?;
    // Media defaults and the weights' source feed every model's build.
    let same_ground =
        previous.is_some_and(|(old, _)| old.media == config.media && old.weights == config.weights);
    for (name, model) in &config.models {
        let capabilities = omnigate_backend_factory::declared_capabilities(model);
        let contract = MediaContract::resolve(&config.media, model);
        let context = BuildContext {
            fetcher: &fetcher,
            image: &contract.image,
            audio: &contract.audio,
        };
        let before = previous.and_then(|(old, registry)| {
            let old_model = old.models.get(name)?;
            let entry = registry.get(name).ok()?;
            Some((old_model, entry))
        });
        if previous.is_some() && before.is_none() {
            changes.added.push(name.clone());
        }
        let reusable = before.filter(|(old, _)| same_ground && same_contract(old, model));
        let mut deployments = Vec::with_capacity(model.deployments.len());
        let mut endpoints = Vec::with_capacity(model.deployments.len());
        for (i, deployment) in model.deployments.iter().enumerate() {
            let deployment_name = deployment.name(i);
            let label = format!("{name}/{deployment_name}");
            let kept = reusable.and_then(|(old_model, entry)| {
                let j = (0..old_model.deployments.len())
                    .find(|&j| old_model.deployments[j].name(j) == deployment_name)?;
                if !old_model.deployments[j].serves_like(deployment) {
                    return None;
                }
                let running = entry.deployments().get(j)?;
                let endpoint = entry.pool().shared_endpoint(j).filter(|endpoint| {
                    endpoint.has_limits(deployment.weight(), deployment.max_in_flight())
                });
                Some((
                    Arc::clone(&running.backend),
                    running.upstream_model.clone(),
                    endpoint,
                ))
            });
            let (backend, upstream_model, endpoint) = match kept {
                Some(kept) => {
                    changes.kept.push(label);
                    kept
                }
                None => {
                    let built =
                        omnigate_backend_factory::build(name, i, model, deployment, &context)
                            .await?;
                    if previous.is_some() {
                        changes.built.push(label);
                    }
                    (built.backend, built.upstream_model, None)
                }
            };
            endpoints.push(endpoint.unwrap_or_else(|| {
                Arc::new(
                    Endpoint::new(
                        deployment_name.clone(),
                        deployment.weight(),
                        deployment.max_in_flight(),
                    )
                    .with_call_timeout(backend.call_timeout()),
                )
            }));
            deployments.push(Deployment {
                backend,
                upstream_model,
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
        let pool = Pool::shared(endpoints, routing_policy(&model.routing));
        registry.insert(ModelEntry::new(spec, deployments, pool));
    }
    if let Some((old, _)) = previous {
        changes.removed = old
            .models
            .keys()
            .filter(|name| !config.models.contains_key(*name))
            .cloned()
            .collect();
    }
    Ok((registry, changes))
}

/// Whether a model's backends would be built the same: what it serves and takes, and its media
/// contract (embedded models are built for their picture and sound sizes).
fn same_contract(old: &ModelConfig, new: &ModelConfig) -> bool {
    old.tasks == new.tasks
        && old.modalities == new.modalities
        && old.image == new.image
        && old.audio == new.audio
        && old.video == new.video
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
