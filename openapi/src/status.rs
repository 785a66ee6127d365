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
    /// Why not, if it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
