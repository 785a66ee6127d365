//! `omnigate worker`: this process as one machine of a fleet. It dials out to NATS (no port of
//! its own to open, so it works behind NAT) and serves the config's models, each by its first
//! deployment: an embedded model, or a local OpenAI-compatible server (llama.cpp, Ollama).
//! Requests arrive already normalized by the gateway, shaped to the model's media contract.

use crate::media::MediaContract;
use omnigate_backend_factory::{BuildContext, BuildError};
use omnigate_backend_fleet::{ServedModel, WorkerSettings};
use omnigate_config::{Config, DeploymentConfig};
use std::future::Future;
use std::time::Duration;

/// Why a worker could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The config lacks what a worker needs.
    #[error("{0}")]
    Config(String),
    /// A model could not be built.
    #[error(transparent)]
    Backend(#[from] BuildError),
    /// The fleet connection failed.
    #[error("{0}")]
    Fleet(String),
}

/// Builds the config's models and serves them to the fleet until `shutdown`, then drains
/// (finishes what it holds) and returns.
pub async fn run(
    config: &Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WorkerError> {
    let worker = config.worker.as_ref().ok_or_else(|| {
        WorkerError::Config("a worker needs a [worker] table (nats_url, ...) or --nats".to_owned())
    })?;
    if config.models.is_empty() {
        return Err(WorkerError::Config(
            "a worker serves the config's [models]; it names none".to_owned(),
        ));
    }
    let fetcher =
        omnigate_backend_factory::weights_fetcher(&config.weights).map_err(WorkerError::Config)?;
    let mut models = Vec::with_capacity(config.models.len());
    let mut device = None;
    for (name, model) in &config.models {
        let Some(deployment) = model.deployments.first() else {
            continue;
        };
        if matches!(deployment, DeploymentConfig::Fleet(_)) {
            return Err(WorkerError::Config(format!(
                "models.{name}.deployments[0]: a worker cannot serve a model through the fleet itself"
            )));
        }
        if let (None, DeploymentConfig::Embedded(embedded)) = (&device, deployment) {
            device = Some(embedded.device.to_string());
        }
        let contract = MediaContract::resolve(&config.media, model);
        let context = BuildContext {
            fetcher: &fetcher,
            image: &contract.image,
            audio: &contract.audio,
        };
        let built = omnigate_backend_factory::build(name, 0, model, deployment, &context).await?;
        tracing::info!(model = %name, backend = built.backend.name(), "serving to the fleet");
        models.push(ServedModel {
            name: name.clone(),
            backend: built.backend,
        });
    }
    let id = worker.id.clone().unwrap_or_else(default_id);
    let nats = omnigate_backend_factory::nats_settings(&worker.nats, "worker", &id)
        .map_err(WorkerError::Config)?;
    let settings = WorkerSettings {
        nats,
        subject_prefix: worker.nats.subject_prefix.clone(),
        worker_id: id,
        device: worker
            .device
            .clone()
            .or(device)
            .unwrap_or_else(|| "cpu".to_owned()),
        max_in_flight: worker.max_in_flight,
        heartbeat_interval: Duration::from_secs_f64(worker.heartbeat_interval_secs),
    };
    omnigate_backend_fleet::serve(settings, models, shutdown)
        .await
        .map_err(|e| WorkerError::Fleet(e.to_string()))
}

/// `HOST-PID`: unique among the workers of one machine, readable in the fleet view.
fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}-{}", std::process::id())
}
