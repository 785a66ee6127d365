//! The models this gateway serves: public name → contract (tasks, modalities), the deployments
//! that run it with the router's live state of them ([`Pool`]), and the models it falls back on.
//! Built once at startup from the config; read-only afterwards. Its refusals are its own
//! [`RouteError`]; the HTTP edge maps them to statuses.

use crate::media::{MediaContract, MediaTarget};
use crate::metrics::series::ModelSeries;
use omnigate_backend::{Backend, Modality, Task};
use omnigate_router::{Attempts, Pool};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// One place a model runs.
#[derive(Clone)]
pub struct Deployment {
    /// The backend that serves it.
    pub backend: Arc<dyn Backend>,
    /// The model's name at that backend.
    pub upstream_model: String,
    /// How often it is probed actively, if at all.
    pub probe_interval: Option<Duration>,
    /// Its name within the model (the config's `name`, else its index).
    pub name: String,
    /// The name, ready to send as `x-omnigate-deployment`.
    pub name_header: Option<axum::http::HeaderValue>,
}

/// What a model is: its name, what it serves and takes, and how its media must look.
pub struct ModelSpec {
    /// The public name.
    pub name: String,
    /// What it can be asked to do.
    pub tasks: BTreeSet<Task>,
    /// Which inputs its chat accepts.
    pub modalities: BTreeSet<Modality>,
    /// How its media must look.
    pub media: MediaContract,
    /// Models tried in order when every deployment of this one failed.
    pub fallbacks: Vec<String>,
    /// Models tried in order when an upstream says the prompt is too long for it.
    pub context_window_fallbacks: Vec<String>,
}

/// One public model: what it is (its [`ModelSpec`], read through `Deref`), the deployments that
/// run it and the router's live state of them.
pub struct ModelEntry {
    spec: ModelSpec,
    deployments: Vec<Deployment>,
    pool: Arc<Pool>,
    /// The name, ready to send as `x-omnigate-model`.
    name_header: Option<axum::http::HeaderValue>,
    /// Its requests' metric series.
    series: ModelSeries,
}

impl std::ops::Deref for ModelEntry {
    type Target = ModelSpec;

    fn deref(&self) -> &ModelSpec {
        &self.spec
    }
}

impl ModelEntry {
    /// A model served by `deployments`, whose live state the router keeps in `pool` (one
    /// endpoint per deployment, in the same order).
    pub fn new(spec: ModelSpec, deployments: Vec<Deployment>, pool: Pool) -> Self {
        debug_assert_eq!(deployments.len(), pool.len());
        Self {
            name_header: axum::http::HeaderValue::from_str(&spec.name).ok(),
            series: ModelSeries::new(&spec.name, deployments.iter().map(|d| d.name.as_str())),
            spec,
            deployments,
            pool: Arc::new(pool),
        }
    }

    /// Every deployment, in config order.
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }

    /// The name as a header value (`None` for a name a header cannot carry).
    pub fn name_header(&self) -> Option<&axum::http::HeaderValue> {
        self.name_header.as_ref()
    }

    /// Its requests' metric series.
    pub fn series(&self) -> &ModelSeries {
        &self.series
    }

    /// The router's live state of the deployments.
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// The tries of one request, within `deadline` if the request asked for a shorter one.
    pub fn attempts(&self, deadline: Option<Duration>) -> Attempts {
        Attempts::new(Arc::clone(&self.pool), deadline)
    }

    /// What the media pass needs to know of the model.
    pub fn media_target(&self) -> MediaTarget<'_> {
        MediaTarget {
            name: &self.name,
            modalities: &self.modalities,
            contract: &self.media,
        }
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
}

fn task_noun(task: Task) -> &'static str {
    match task {
        Task::Chat => "chat completions",
        Task::Embeddings => "embeddings",
        Task::Transcription => "speech recognition",
        Task::Infer => "tensor inference",
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
