//! Config reload (`SIGHUP`, `POST /admin/reload`): the config is read and validated again and,
//! only if all of it holds (every deployment built, every key valid), swapped in as one. A bad
//! config changes nothing and says why, naming the key. Requests in flight finish on the state
//! they started with; deployments that serve like before keep their running backends (see
//! [`crate::assemble`]). What only a restart can change (the listener, its limits, the runtime,
//! the shared store) keeps its running value and is reported.

use crate::assemble::{self, Changes};
use crate::media::Normalizer;
use crate::state::{AppState, ConfigSource, Live, Settings, StartupError, watch_fleets};
use omnigate_config::{Config, ConfigError, DeploymentConfig};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Models and deployments added, removed, built again or kept.
    pub changes: Changes,
    /// Keys that changed but only take effect after a restart (their running values stay).
    pub restart_required: Vec<&'static str>,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The state was built from parts, not from a config it can read again.
    #[error("this gateway was not started from a config it can read again")]
    NoSource,
    /// The config does not load or validate.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A deployment, a key or the media pipeline could not be set up from it.
    #[error(transparent)]
    Startup(#[from] StartupError),
}

impl AppState {
    /// Reads the config again from where it came from and swaps it in (see the module docs).
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let source = self.source().ok_or(ReloadError::NoSource)?.clone();
        let config = read(&source)?;
        self.reload_with(config).await
    }

    /// Swaps in `config` (already loaded and validated) if everything it names can be built.
    pub async fn reload_with(&self, mut config: Config) -> Result<ReloadReport, ReloadError> {
        // Two reloads at once would each build from the same running state.
        let _one_at_a_time = self.reload_lock().lock().await;
        let live = self.live();
        let running = live.config.as_ref().ok_or(ReloadError::NoSource)?;
        let restart_required = keep_what_needs_a_restart(running, &mut config);
        let (registry, changes) =
            assemble::registry(&config, Some((running, &live.registry))).await?;
        let settings = Settings::from_config(&config, Some(&live.settings))?;
        let normalizer = if running.media == config.media {
            Arc::clone(&live.normalizer)
        } else {
            Arc::new(Normalizer::new(&config.media).map_err(StartupError::Media)?)
        };
        let fleets = if fleets_of(running) == fleets_of(&config) {
            Arc::clone(&live.fleets)
        } else {
            Arc::new(watch_fleets(&config).await?)
        };
        // Last, as it swaps the keys itself: everything before it could still refuse.
        self.tenancy().reload(&config).map_err(StartupError::from)?;
        self.swap(Live {
            registry,
            normalizer,
            settings,
            fleets,
            config: Some(config),
        });
        self.restart_probes();
        for key in &restart_required {
            tracing::warn!(
                key,
                "changed in the config, but takes effect only after a restart"
            );
        }
        tracing::info!(
            added = ?changes.added,
            removed = ?changes.removed,
            built = ?changes.built,
            kept = changes.kept.len(),
            "config reloaded"
        );
        Ok(ReloadReport {
            changes,
            restart_required,
        })
    }
}

/// Reloads whenever the config file's size or modification time changes, looking every
/// `every`; runs until the runtime stops. A reload that fails is logged and tried again only
/// after the next change (the file is not read again and again while it stays broken).
pub fn watch(state: AppState, path: PathBuf, every: Duration) {
    tokio::spawn(async move {
        let stamp = |path: &Path| {
            std::fs::metadata(path)
                .ok()
                .map(|meta| (meta.len(), meta.modified().ok()))
        };
        let mut seen = stamp(&path);
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = stamp(&path);
            if now.is_none() || now == seen {
                continue;
            }
            seen = now;
            match state.reload().await {
                Ok(report) => tracing::info!(
                    built = report.changes.built.len(),
                    "the config file changed and was reloaded"
                ),
                Err(err) => tracing::error!(
                    %err,
                    "the config file changed but did not reload; keeping the running one"
                ),
            }
        }
    });
}

/// Loads the config from `source` as startup does (the embedded defaults when it names no
/// models).
pub fn read(source: &ConfigSource) -> Result<Config, ConfigError> {
    let mut config = omnigate_config::load(source.path.as_deref())?;
    config.use_embedded_defaults_if_empty()?;
    if let Some(bind) = source.bind {
        config.server.bind = bind;
    }
    Ok(config)
}

/// Gives `config` the running values of what only a restart can change, and names each one
/// that differed.
fn keep_what_needs_a_restart(running: &Config, config: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident).+, $key:literal) => {
            if config.$($field).+ != running.$($field).+ {
                changed.push($key);
                config.$($field).+ = running.$($field).+.clone();
            }
        };
    }
    keep!(server.bind, "server.bind");
    keep!(server.max_body_bytes, "server.max_body_bytes");
    keep!(
        server.max_concurrent_requests,
        "server.max_concurrent_requests"
    );
    keep!(server.shutdown_grace_secs, "server.shutdown_grace_secs");
    keep!(server.log_format, "server.log_format");
    keep!(server.worker_threads, "server.worker_threads");
    keep!(server.watch_config_secs, "server.watch_config_secs");
    keep!(server.access_log, "server.access_log");
    keep!(state, "state");
    // The tracer and its exporter are installed once, with the process's subscriber.
    keep!(telemetry, "telemetry");
    changed
}

/// The fleets (NATS server and subject prefix) a config's deployments name.
fn fleets_of(config: &Config) -> BTreeSet<(String, String)> {
    config
        .models
        .values()
        .flat_map(|model| &model.deployments)
        .filter_map(|deployment| match deployment {
            DeploymentConfig::Fleet(fleet) => Some((
                fleet.nats.nats_url.to_string(),
                fleet.nats.subject_prefix.clone(),
            )),
            _ => None,
        })
        .collect()
}
