//! Liveness and readiness answers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /health`: the process is up and serving HTTP.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// `GET /ready`: whether every model has at least one reachable deployment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// One entry per deployment probed.
    pub deployments: Vec<DeploymentHealth>,
}

/// The result of probing one deployment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeploymentHealth {
    /// Public model name.
    pub model: String,
    /// The backend's name.
    pub backend: String,
    /// Whether it answered its probe in time.
    pub healthy: bool,
    /// Its routing state: `healthy`, `ejected`, `half_open` or `cooling_down` (see
    /// `GET /v1/deployments`).
    #[schema(example = "healthy")]
    pub routing: String,
    /// Why not, if it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /v1/deployments`: every deployment of every model as the router sees it now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeploymentList {
    /// Always `list`.
    #[schema(example = "list")]
    pub object: String,
    /// One entry per deployment, by model then config order.
    pub data: Vec<DeploymentStatus>,
}

/// One deployment's live routing state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeploymentStatus {
    /// Public model name.
    pub model: String,
    /// Its name within the model: the config's `name`, else its index in the model's
    /// `deployments` (what `x-omnigate-deployment` says).
    pub deployment: String,
    /// The backend's name.
    pub backend: String,
    /// `healthy`, `ejected` (passive health took it out), `half_open` (one trial request will
    /// decide) or `cooling_down` (it answered `retry-after`).
    #[schema(example = "healthy")]
    pub state: String,
    /// Requests in flight to it.
    pub in_flight: u64,
    /// Peak-EWMA latency estimate, in milliseconds.
    pub ewma_ms: f64,
    /// Tries finished since start.
    pub requests: u64,
    /// Of which failed (as counted by passive health).
    pub failures: u64,
    /// Seconds until it is tried again, when ejected or cooling down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_for_secs: Option<f64>,
    /// The last few failures, newest last.
    pub recent_errors: Vec<String>,
}

/// `GET /v1/fleet`: the workers the gateway hears from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FleetList {
    /// Always `list`.
    #[schema(example = "list")]
    pub object: String,
    /// One entry per worker heard from lately, by fleet then id.
    pub data: Vec<FleetWorker>,
}

/// One worker of a fleet, as its last heartbeat described it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FleetWorker {
    /// The fleet: its NATS subject prefix.
    pub fleet: String,
    /// The worker's id.
    pub id: String,
    /// The models it serves.
    pub models: Vec<String>,
    /// What it runs on (`cpu`, `cuda:0`).
    pub device: String,
    /// Requests it takes at once.
    pub max_in_flight: u64,
    /// Requests it holds now.
    pub in_flight: u64,
    /// Requests it has answered since it started.
    pub served: u64,
    /// Seconds since its last heartbeat.
    pub seconds_since_heartbeat: f64,
    /// Whether it is draining (finishing its work before it leaves).
    pub draining: bool,
}

/// `POST /admin/reload`: what a config reload changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReloadResult {
    /// Always `config.reload`.
    #[schema(example = "config.reload")]
    pub object: String,
    /// Models that were not served before.
    pub added_models: Vec<String>,
    /// Models no longer served (requests in flight on them finish).
    pub removed_models: Vec<String>,
    /// Deployments (`model/deployment`) built now: new, or changed where their backend sees it.
    pub built_deployments: Vec<String>,
    /// Deployments whose running backend (connections, loaded weights) was kept.
    pub kept_deployments: Vec<String>,
    /// Changed keys that take effect only after a restart; their running values stay.
    pub restart_required: Vec<String>,
}
