//! The backend factory: one function from a deployment's config (`kind = ...`) to a live
//! `Arc<dyn Backend>`, so adding a backend kind is one match arm here.

use omnigate_backend::{Backend, Capabilities, Modality, Task};
use omnigate_backend_openai::{OpenAiBackend, OpenAiSettings};
use omnigate_config::{DeploymentConfig, ModelConfig};
use omnigate_weights::Fetcher;

use crate::media::MediaContract;
use std::sync::Arc;
use std::time::Duration;

/// Why a deployment could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot start deployment `{key}`: {message}")]
pub struct BuildError {
    /// The config key of the deployment.
    pub key: String,
    /// What failed.
    pub message: String,
}

/// The tasks and modalities a model's config declares, in backend terms.
pub fn declared_capabilities(model: &ModelConfig) -> Capabilities {
    Capabilities {
        tasks: model.tasks.iter().map(|t| task(*t)).collect(),
        modalities: model.modalities.iter().map(|m| modality(*m)).collect(),
    }
}

/// What building deployments needs besides their own config.
pub struct BuildContext<'a> {
    /// The model's resolved media contract (embedded models check it fits them).
    pub contract: &'a MediaContract,
    /// Fetches embedded models' weights.
    pub fetcher: &'a Fetcher,
}

/// Builds the backend for one deployment. `key` names it in errors.
pub async fn build(
    key: &str,
    public_name: &str,
    model: &ModelConfig,
    deployment: &DeploymentConfig,
    context: &BuildContext<'_>,
) -> Result<(Arc<dyn Backend>, String), BuildError> {
    match deployment {
        DeploymentConfig::Embedded(embedded) => {
            let backend = crate::embedded::build(
                key,
                public_name,
                context.contract,
                embedded,
                context.fetcher,
            )
            .await?;
            Ok((backend, public_name.to_owned()))
        }
        DeploymentConfig::Openai(openai) => {
            let api_key = match &openai.api_key {
                Some(secret) => Some(
                    secret
                        .resolve(&format!("{key}.api_key"))
                        .map_err(|e| BuildError {
                            key: key.to_owned(),
                            message: e.to_string(),
                        })?
                        .expose()
                        .to_owned(),
                ),
                None => None,
            };
            let settings = OpenAiSettings {
                base_url: openai.base_url.clone(),
                api_key,
                timeout: Duration::from_secs_f64(openai.timeout_secs),
                connect_timeout: Duration::from_secs_f64(openai.connect_timeout_secs),
                capabilities: declared_capabilities(model),
            };
            let backend = OpenAiBackend::new(settings).map_err(|e| BuildError {
                key: key.to_owned(),
                message: e.to_string(),
            })?;
            let upstream = openai
                .model
                .clone()
                .unwrap_or_else(|| public_name.to_owned());
            Ok((Arc::new(backend), upstream))
        }
    }
}

fn task(task: omnigate_config::Task) -> Task {
    match task {
        omnigate_config::Task::Chat => Task::Chat,
        omnigate_config::Task::Embeddings => Task::Embeddings,
        omnigate_config::Task::Transcription => Task::Transcription,
    }
}

fn modality(modality: omnigate_config::Modality) -> Modality {
    match modality {
        omnigate_config::Modality::Text => Modality::Text,
        omnigate_config::Modality::Image => Modality::Image,
        omnigate_config::Modality::Audio => Modality::Audio,
        omnigate_config::Modality::Video => Modality::Video,
    }
}
