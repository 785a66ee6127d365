//! The `[models.NAME]` sections: what each public model name accepts and where it is served.

use crate::{AudioContract, EmbeddedDeployment, ImageContract, SecretRef, VideoContract};
// The backend boundary's own types: `tasks` and `modalities` parse straight into what the
// backends declare, so nothing maps one copy onto another.
pub use omnigate_backend::{Modality, Task};
use serde::Deserialize;
use url::Url;

/// One public model: what it accepts and the deployments that serve it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What the model can be asked to do.
    #[serde(default = "default_tasks")]
    pub tasks: Vec<Task>,
    /// Input modalities the model accepts in chat messages.
    #[serde(default = "default_modalities")]
    pub modalities: Vec<Modality>,
    /// Where the model runs; requests are spread over them round-robin.
    pub deployments: Vec<DeploymentConfig>,
    /// Overrides of `[media.image]` for this model.
    #[serde(default)]
    pub image: ImageContract,
    /// Overrides of `[media.audio]` for this model.
    #[serde(default)]
    pub audio: AudioContract,
    /// Overrides of `[media.video]` for this model.
    #[serde(default)]
    pub video: VideoContract,
}

fn default_tasks() -> Vec<Task> {
    vec![Task::Chat]
}

fn default_modalities() -> Vec<Modality> {
    vec![Modality::Text]
}

/// One place a model runs, chosen by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeploymentConfig {
    /// Any server that speaks the OpenAI HTTP API (vLLM, llama.cpp, Ollama, TGI, hosted APIs).
    Openai(OpenAiDeployment),
    /// A model running inside the gateway on burn.
    Embedded(EmbeddedDeployment),
}

/// A remote OpenAI-compatible server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiDeployment {
    /// Base URL including the API prefix, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: Url,
    /// Model name upstream; defaults to the public name.
    #[serde(default)]
    pub model: Option<String>,
    /// Bearer key sent upstream, usually `env::NAME`.
    #[serde(default)]
    pub api_key: Option<SecretRef>,
    /// Whole-request deadline for non-streaming calls, and the longest wait for the first byte
    /// or between two chunks of a stream.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// Deadline for opening a TCP (and TLS) connection.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: f64,
}

fn default_timeout_secs() -> f64 {
    120.0
}

fn default_connect_timeout_secs() -> f64 {
    5.0
}
