//! The models this gateway serves: public name → contract (tasks, modalities) and the
//! deployments that run it. Built once at startup from the config; read-only afterwards.

use crate::error::ApiError;
use crate::media::MediaContract;
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

    /// The next deployment, round-robin.
    pub fn pick(&self) -> Result<&Deployment, ApiError> {
        if self.deployments.is_empty() {
            return Err(ApiError::Unavailable(format!(
                "model {} has no deployment",
                self.name
            )));
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.deployments.len();
        Ok(&self.deployments[i])
    }

    /// Refuses a request for a task the model does not serve.
    pub fn require(&self, task: Task) -> Result<(), ApiError> {
        if self.tasks.contains(&task) {
            Ok(())
        } else {
            Err(ApiError::Unprocessable {
                message: format!(
                    "The model `{}` does not serve {}.",
                    self.name,
                    task_noun(task)
                ),
                param: Some("model".to_owned()),
            })
        }
    }
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
    pub fn get(&self, name: &str) -> Result<&Arc<ModelEntry>, ApiError> {
        self.models
            .get(name)
            .ok_or_else(|| ApiError::ModelNotFound(name.to_owned()))
    }

    /// All models in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ModelEntry>> {
        self.models.values()
    }
}
