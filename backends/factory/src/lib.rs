//! The backend factory: the one place a deployment's config (`kind = ...`) becomes a live
//! `Arc<dyn Backend>`. Adding a backend kind is one crate beside `backends/openai` plus one arm
//! in [`build`]. Every deployment leaves here checked: a backend that does not serve what its
//! model declares (a task, an input modality) is refused at startup with the config key named,
//! instead of starting and answering 422 to every request.

mod embedded;
mod fleet;
mod oip;
mod openai;

pub use embedded::{check_devices, fetch_all, weights_fetcher};
pub use fleet::nats_settings;
pub use omnigate_backend::BuildError;

use std::collections::BTreeSet;
use std::sync::Arc;

use omnigate_backend::{Backend, Capabilities, Modality, Task};
use omnigate_config::{DeploymentConfig, ModelConfig};
use omnigate_media::{AudioPolicy, ImagePolicy};
use omnigate_weights::Fetcher;

/// What building deployments needs besides their own config.
pub struct BuildContext<'a> {
    /// Fetches embedded models' weights (once, into the cache).
    pub fetcher: &'a Fetcher,
    /// The pictures the model will be fed (its resolved media contract).
    pub image: &'a ImagePolicy,
    /// The sound the model will be fed.
    pub audio: &'a AudioPolicy,
}

/// One deployment, ready to serve.
pub struct Built {
    /// The backend that serves it.
    pub backend: Arc<dyn Backend>,
    /// The model's name at that backend.
    pub upstream_model: String,
}

/// The tasks and modalities a model's config declares.
pub fn declared_capabilities(model: &ModelConfig) -> Capabilities {
    Capabilities {
        tasks: model.tasks.iter().copied().collect(),
        modalities: model.modalities.iter().copied().collect(),
    }
}

/// Builds deployment `index` of the model `public_name` (config key
/// `models.<public_name>.deployments[<index>]`).
pub async fn build(
    public_name: &str,
    index: usize,
    model: &ModelConfig,
    deployment: &DeploymentConfig,
    context: &BuildContext<'_>,
) -> Result<Built, BuildError> {
    let at = Location::new(public_name, index);
    let declared = declared_capabilities(model);
    let built = match deployment {
        DeploymentConfig::Embedded(embedded) => {
            embedded::build(&at, &declared, embedded, context).await?
        }
        DeploymentConfig::Openai(openai) => openai::build(&at, declared.clone(), openai)?,
        DeploymentConfig::Fleet(fleet) => fleet::build(&at, declared.clone(), fleet).await?,
        DeploymentConfig::Oip(oip) => oip::build(&at, &declared, model, oip, context).await?,
    };
    check_serves(
        &at,
        built.backend.name(),
        &declared,
        &built.backend.capabilities(),
    )?;
    Ok(built)
}

/// Where a deployment sits in the config, for error messages.
pub(crate) struct Location<'a> {
    /// The model's public name.
    model: &'a str,
    /// `models.<name>.deployments[<i>]`.
    key: String,
}

impl<'a> Location<'a> {
    fn new(model: &'a str, index: usize) -> Self {
        Self {
            model,
            key: format!("models.{model}.deployments[{index}]"),
        }
    }

    /// A failure of the deployment itself.
    pub(crate) fn error(&self, message: impl Into<String>) -> BuildError {
        BuildError::new(&self.key, message)
    }

    /// A failure of one of the deployment's fields.
    pub(crate) fn field_error(&self, field: &str, message: impl Into<String>) -> BuildError {
        BuildError::new(format!("{}.{field}", self.key), message)
    }
}

/// Refuses a deployment whose backend does not serve every task and modality its model
/// declares: the model would start and then fail every such request.
pub(crate) fn check_serves(
    at: &Location<'_>,
    backend: &str,
    declared: &Capabilities,
    served: &Capabilities,
) -> Result<(), BuildError> {
    let missing_tasks: Vec<Task> = declared.tasks.difference(&served.tasks).copied().collect();
    if !missing_tasks.is_empty() {
        return Err(BuildError::new(
            format!("models.{}.tasks", at.model),
            format!(
                "declares {}, which {} ({backend}) does not serve; it serves {}",
                names(missing_tasks.iter().map(|t| t.name())),
                at.key,
                names(served.tasks.iter().map(|t| t.name())),
            ),
        ));
    }
    let missing: BTreeSet<Modality> = declared
        .modalities
        .difference(&served.modalities)
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(BuildError::new(
            format!("models.{}.modalities", at.model),
            format!(
                "declares {} input, which {} ({backend}) does not take; it takes {}",
                names(missing.iter().map(|m| m.name())),
                at.key,
                names(served.modalities.iter().map(|m| m.name())),
            ),
        ));
    }
    Ok(())
}

/// `a`, `a` and `b`, ... as backticked config names.
fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(|name| format!("`{name}`")).collect();
    if items.is_empty() {
        "nothing".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn caps(tasks: &[Task], modalities: &[Modality]) -> Capabilities {
        Capabilities {
            tasks: tasks.iter().copied().collect(),
            modalities: modalities.iter().copied().collect(),
        }
    }

    #[test]
    fn a_backend_serving_less_than_declared_is_refused_naming_the_key() {
        let at = Location::new("m", 1);
        let served = caps(&[Task::Embeddings], &[Modality::Text]);
        let err =
            check_serves(&at, "embedded(minilm)", &caps(&[Task::Chat], &[]), &served).unwrap_err();
        assert_eq!(err.key, "models.m.tasks");
        assert!(err.message.contains("`chat`"), "{err}");
        assert!(err.message.contains("models.m.deployments[1]"), "{err}");
        assert!(err.message.contains("`embeddings`"), "{err}");

        let declared = caps(&[Task::Embeddings], &[Modality::Text, Modality::Image]);
        let err = check_serves(&at, "x", &declared, &served).unwrap_err();
        assert_eq!(err.key, "models.m.modalities");
        assert!(err.message.contains("`image`"), "{err}");
    }

    #[test]
    fn a_backend_serving_at_least_what_is_declared_passes() {
        let at = Location::new("m", 0);
        let served = caps(
            &[Task::Chat, Task::Transcription],
            &[Modality::Text, Modality::Audio],
        );
        let declared = caps(&[Task::Transcription], &[Modality::Audio]);
        check_serves(&at, "x", &declared, &served).unwrap();
    }
}
