//! Shared state handed to every handler. What a config reload may change (the models and their
//! deployments, the media pipeline, the accepted keys, the fleets watched) is one [`Live`]
//! value swapped atomically: each request reads the one current when it starts and finishes on
//! it, whatever reloads happen meanwhile.

/// Why the gateway cannot start (made where the state is assembled).
pub use crate::assemble::StartupError;
use crate::media::Normalizer;
use crate::probes::Probes;
use crate::registry::Registry;
use crate::tenancy::Tenancy;
use arc_swap::ArcSwap;
use omnigate_backend_fleet::FleetWatch;
use omnigate_config::{Config, Secret};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    live: ArcSwap<Live>,
    tenancy: Tenancy,
    started_unix: u64,
    /// Where a reload reads the config from (unset: built from parts; no reload).
    pub(crate) source: OnceLock<ConfigSource>,
    /// The active health probes of the current deployments, while the server runs.
    pub(crate) probes: Mutex<Option<Probes>>,
    /// One reload at a time.
    pub(crate) reloading: tokio::sync::Mutex<()>,
}

/// Where the running config came from, to read it again on reload.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// The TOML file; `None`: the embedded defaults (environment overrides apply to both).
    pub path: Option<PathBuf>,
    /// The listener address given on the command line, which overrides the file's.
    pub bind: Option<std::net::SocketAddr>,
}

/// What a reload swaps as one.
pub struct Live {
    pub(crate) registry: Registry,
    pub(crate) normalizer: Arc<Normalizer>,
    pub(crate) settings: Settings,
    /// The fleets `fleet` deployments name, by subject prefix, watched through their heartbeats.
    pub(crate) fleets: Arc<Vec<(String, FleetWatch)>>,
    /// The config this was built from (`None` when built from parts).
    pub(crate) config: Option<Config>,
}

/// One part of the [`Live`] state current when it was taken (a request keeps it to the end).
pub struct Current<T: 'static> {
    live: arc_swap::Guard<Arc<Live>>,
    part: fn(&Live) -> &T,
}

impl<T> std::ops::Deref for Current<T> {
    type Target = T;

    fn deref(&self) -> &T {
        (self.part)(&self.live)
    }
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
        let live = Live {
            registry,
            normalizer: Arc::new(normalizer),
            settings,
            fleets: Arc::new(Vec::new()),
            config: None,
        };
        Self::from_live(live, tenancy)
    }

    fn from_live(live: Live, tenancy: Tenancy) -> Self {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            inner: Arc::new(Inner {
                live: ArcSwap::from_pointee(live),
                tenancy,
                started_unix,
                source: OnceLock::new(),
                probes: Mutex::new(None),
                reloading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Builds every deployment the config names (fetching embedded models' weights on their
    /// first start, and loading them).
    pub async fn from_config(config: &Config) -> Result<Self, StartupError> {
        let (registry, _) = crate::assemble::registry(config, None).await?;
        let settings = Settings::from_config(config, None)?;
        let normalizer = Normalizer::new(&config.media).map_err(StartupError::Media)?;
        let tenancy = Tenancy::from_config(config).await?;
        let fleets = watch_fleets(config).await?;
        let live = Live {
            registry,
            normalizer: Arc::new(normalizer),
            settings,
            fleets: Arc::new(fleets),
            config: Some(config.clone()),
        };
        Ok(Self::from_live(live, tenancy))
    }

    /// Says where the config came from, so that a reload (`SIGHUP`, `POST /admin/reload`) can
    /// read it again. Only the first call counts.
    pub fn set_config_source(&self, source: ConfigSource) {
        let _ = self.inner.source.set(source);
    }

    /// The models (as of now: a reload swaps them).
    pub fn registry(&self) -> Current<Registry> {
        self.current(|live| &live.registry)
    }

    /// The media pipeline.
    pub fn normalizer(&self) -> Current<Arc<Normalizer>> {
        self.current(|live| &live.normalizer)
    }

    /// The settings.
    pub fn settings(&self) -> Current<Settings> {
        self.current(|live| &live.settings)
    }

    /// The fleets watched, by subject prefix.
    pub fn fleets(&self) -> Current<Arc<Vec<(String, FleetWatch)>>> {
        self.current(|live| &live.fleets)
    }

    fn current<T>(&self, part: fn(&Live) -> &T) -> Current<T> {
        Current {
            live: self.inner.live.load(),
            part,
        }
    }

    /// The whole live state, to build the next one from.
    pub(crate) fn live(&self) -> Arc<Live> {
        self.inner.live.load_full()
    }

    /// Makes `live` the state every request from now on reads.
    pub(crate) fn swap(&self, live: Live) {
        self.inner.live.store(Arc::new(live));
    }

    /// Where the config came from, if the state was built from one.
    pub(crate) fn source(&self) -> Option<&ConfigSource> {
        self.inner.source.get()
    }

    pub(crate) fn reload_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.reloading
    }

    /// Starts the active health probes of the current deployments (again, after a reload).
    pub fn start_probes(&self) {
        let probes = crate::probes::spawn(&self.registry(), self.settings().readiness_timeout);
        if let Ok(mut running) = self.inner.probes.lock() {
            *running = Some(probes);
        }
    }

    /// Restarts the probes if they run (after a reload changed the deployments).
    pub(crate) fn restart_probes(&self) {
        let running = self.inner.probes.lock().is_ok_and(|p| p.is_some());
        if running {
            self.start_probes();
        }
    }

    /// Stops the probes.
    pub fn stop_probes(&self) {
        if let Ok(mut running) = self.inner.probes.lock() {
            running.take();
        }
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

impl Settings {
    /// The settings `config` asks for. On reload (`running` given) only what can change while
    /// serving is taken (the keys, the readiness timeout); the body limit and the shedding
    /// threshold are part of the listener's stack and stay as started.
    pub(crate) fn from_config(
        config: &Config,
        running: Option<&Settings>,
    ) -> Result<Self, StartupError> {
        let server = &config.server;
        let resolve = |keys: &[omnigate_config::SecretRef], at: &str| {
            keys.iter()
                .enumerate()
                .map(|(i, key)| key.resolve(&format!("server.{at}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            max_body_bytes: running.map_or(server.max_body_bytes, |r| r.max_body_bytes),
            max_concurrent_requests: running.map_or(server.max_concurrent_requests, |r| {
                r.max_concurrent_requests
            }),
            api_keys: resolve(&server.api_keys, "api_keys")?,
            admin_api_keys: resolve(&server.admin_api_keys, "admin_api_keys")?,
            readiness_timeout: Duration::from_secs_f64(server.readiness_timeout_secs),
        })
    }
}

/// One watch per fleet (NATS URL and subject prefix) that a `fleet` deployment names. A fleet
/// whose NATS does not answer yet is watched once it does; it does not stop the gateway.
pub(crate) async fn watch_fleets(
    config: &Config,
) -> Result<Vec<(String, FleetWatch)>, StartupError> {
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
