//! Shared, read-only state handed to every handler: the model registry and server settings.

use crate::media::{MediaContract, Normalizer};
use crate::registry::{Deployment, ModelEntry, Registry};
use omnigate_backend_factory::{BuildContext, BuildError};
use omnigate_config::{Config, ConfigError, Secret};
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
    /// Deadline of each backend probe in `/ready`.
    pub readiness_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            max_concurrent_requests: 1024,
            api_keys: Vec::new(),
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
    /// The media machinery could not be set up.
    #[error("{0}")]
    Media(String),
}

impl AppState {
    /// State from parts (tests and embedding).
    pub fn new(registry: Registry, settings: Settings, normalizer: Normalizer) -> Self {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            inner: Arc::new(Inner {
                registry,
                normalizer,
                settings,
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
            for (i, deployment) in model.deployments.iter().enumerate() {
                let built =
                    omnigate_backend_factory::build(name, i, model, deployment, &context).await?;
                deployments.push(Deployment {
                    backend: built.backend,
                    upstream_model: built.upstream_model,
                });
            }
            registry.insert(ModelEntry::new(
                name.clone(),
                capabilities.tasks,
                capabilities.modalities,
                contract,
                deployments,
            ));
        }
        let server = &config.server;
        let api_keys = server
            .api_keys
            .iter()
            .enumerate()
            .map(|(i, key)| key.resolve(&format!("server.api_keys[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let settings = Settings {
            max_body_bytes: server.max_body_bytes,
            max_concurrent_requests: server.max_concurrent_requests,
            api_keys,
            readiness_timeout: Duration::from_secs_f64(server.readiness_timeout_secs),
        };
        let normalizer = Normalizer::new(&config.media).map_err(StartupError::Media)?;
        Ok(Self::new(registry, settings, normalizer))
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

    /// Unix time the gateway started (reported as models' `created`).
    pub fn started_unix(&self) -> u64 {
        self.inner.started_unix
    }
}
