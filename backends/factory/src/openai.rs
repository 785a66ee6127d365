//! `kind = "openai"`: any server that speaks the OpenAI HTTP API.

use std::sync::Arc;
use std::time::Duration;

use omnigate_backend::{BuildError, Capabilities};
use omnigate_backend_openai::{OpenAiBackend, OpenAiSettings};
use omnigate_config::OpenAiDeployment;

use crate::{Built, Location};

/// Builds the client (no connection is opened yet). An OpenAI-compatible server cannot tell
/// what it serves, so the backend serves what the model's config declares.
pub(crate) fn build(
    at: &Location<'_>,
    declared: Capabilities,
    deployment: &OpenAiDeployment,
) -> Result<Built, BuildError> {
    let api_key = match &deployment.api_key {
        Some(secret) => Some(
            secret
                .resolve(&format!("{}.api_key", at.key))
                .map_err(|e| at.error(e.to_string()))?
                .into_inner(),
        ),
        None => None,
    };
    let settings = OpenAiSettings {
        base_url: deployment.base_url.clone(),
        api_key,
        timeout: Duration::from_secs_f64(deployment.timeout_secs),
        connect_timeout: Duration::from_secs_f64(deployment.connect_timeout_secs),
        capabilities: declared,
        health_path: deployment.health_path.clone(),
    };
    let backend = OpenAiBackend::new(settings).map_err(|e| at.error(e.to_string()))?;
    let upstream_model = deployment
        .model
        .clone()
        .unwrap_or_else(|| at.model.to_owned());
    Ok(Built {
        backend: Arc::new(backend),
        upstream_model,
    })
}
