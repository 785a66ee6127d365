//! The models this gateway serves: public name → contract (tasks, modalities) and the
//! deployments that run it. Built once at startup from the config; read-only afterwards. Its
//! refusals are its own [`RouteError`]; the HTTP edge maps them to statuses.

use crate::media::{MediaContract, MediaTarget};
use omnigate_backend::{Backend, Modality, Task};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One place a model runs.
#[derive(Clone)]
pub struct Deployment {
    /// The backend that serves it.
    pub backend: Arc<dyn Backend>,
    /// The model's name at that backend.
    pub upstream_model: String,
}

/// One public model.
pub struct ModelEntry {
    /// The public name.
    pub name: String,
    /// What it can be asked to do.
    pub tasks: BTreeSet<Task>,
    /// Which inputs its chat accepts.
    pub modalities: BTreeSet<Modality>,
    /// How its media must look.
    pub media: MediaContract,
    deployments: Vec<Deployment>,
    next: AtomicUsize,
}

impl ModelEntry {
    /// A model served by `deployments` (at least one).
    pub fn new(
        name: impl Into<String>,
        tasks: BTreeSet<Task>,
        modalities: BTreeSet<Modality>,
        media: MediaContract,
        deployments: Vec<Deployment>,
    ) -> Self {
        Self {
            name: name.into(),
            tasks,
            modalities,
            media,
            deployments,
            next: AtomicUsize::new(0),
        }
    }

    /// Every deployment, for health probes.
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }

    /// What the media pass needs to know of the model.
    pub fn media_target(&self) -> MediaTarget<'_> {
        MediaTarget {
            name: &self.name,
            modalities: &self.modalities,
            contract: &self.media,
        }
    }

    /// The next deployment, round-robin.
    pub fn pick(&self) -> Result<&Deployment, RouteError> {
        if self.deployments.is_empty() {
            return Err(RouteError::NoDeployment(self.name.clone()));
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.deployments.len();
        Ok(&self.deployments[i])
    }

    /// Refuses a request for a task the model does not serve.
    pub fn require(&self, task: Task) -> Result<(), RouteError> {
        if self.tasks.contains(&task) {
            Ok(())
        } else {
            Err(RouteError::TaskNotServed {
                model: self.name.clone(),
                task,
            })
        }
    }
}

/// Why a request cannot be routed to a deployment.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No model of that name is served here.
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    /// The model exists but is not declared for this task.
    #[error("The model `{model}` does not serve {}.", task_noun(*task))]
    TaskNotServed {
        /// The model.
        model: String,
        /// The task asked for.
        task: Task,
    },
    /// The model has no deployment to send the request to.
    #[error("model {0} has no deployment")]
    NoDeployment(String),
}

fn task_noun(task: Task) -> &'static str {
    match task {
        Task::Chat => "chat completions",
        Task::Embeddings => "embeddings",
        Task::Transcription => "speech recognition",
    }
}

/// All models, by public name.
#[derive(Default)]
pub struct Registry {
    models: BTreeMap<String, Arc<ModelEntry>>,
}

impl Registry {
    /// Adds (or replaces) a model.
    pub fn insert(&mut self, entry: ModelEntry) {
        self.models.insert(entry.name.clone(), Arc::new(entry));
    }

    /// The model named in a request.
    pub fn get(&self, name: &str) -> Result<&Arc<ModelEntry>, RouteError> {
        self.models
            .get(name)
            .ok_or_else(|| RouteError::ModelNotFound(name.to_owned()))
    }

    /// All models in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ModelEntry>> {
        self.models.values()
    }
}
