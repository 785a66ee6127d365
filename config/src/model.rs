//! The `[models.NAME]` sections: what each public model name accepts and where it is served.

use crate::{
    AudioContract, EmbeddedDeployment, ImageContract, RoutingConfig, SecretRef, VideoContract,
};
// The backend boundary's own types: `tasks` and `modalities` parse straight into what the
// backends declare, so nothing maps one copy onto another.
pub use omnigate_backend::{Modality, Task};
use serde::Deserialize;
use url::Url;

/// One public model: what it accepts and the deployments that serve it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What the model can be asked to do.
    #[serde(default = "default_tasks")]
    pub tasks: Vec<Task>,
    /// Input modalities the model accepts in chat messages.
    #[serde(default = "default_modalities")]
    pub modalities: Vec<Modality>,
    /// Where the model runs; requests are spread over them by `routing.strategy`.
    pub deployments: Vec<DeploymentConfig>,
    /// Balancing, ejection and retries over the deployments.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Models tried in order when every deployment of this one failed or is out of rotation
    /// (a request the client got wrong is not passed on).
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Models tried in order when an upstream says the prompt is longer than its context.
    #[serde(default)]
    pub context_window_fallbacks: Vec<String>,
    /// Overrides of `[media.image]` for this model.
    #[serde(default)]
    pub image: ImageContract,
    /// Overrides of `[media.audio]` for this model.
    #[serde(default)]
    pub audio: AudioContract,
    /// Overrides of `[media.video]` for this model.
    #[serde(default)]
    pub video: VideoContract,
    /// v2 tensor inputs the gateway makes from media, by input name (models served by
    /// `kind = "oip"` deployments).
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<String, crate::oip::TensorInput>,
    /// What a request costs (for keys' budgets and the usage report); absent: nothing.
    #[serde(default)]
    pub prices: Option<omnigate_tenants::Prices>,
}

fn default_tasks() -> Vec<Task> {
    vec![Task::Chat]
}

fn default_modalities() -> Vec<Modality> {
    vec![Modality::Text]
}

/// One place a model runs, chosen by `kind`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeploymentConfig {
    /// Any server that speaks the OpenAI HTTP API (vLLM, llama.cpp, Ollama, TGI, hosted APIs).
    Openai(OpenAiDeployment),
    /// A model running inside the gateway on burn.
    Embedded(EmbeddedDeployment),
    /// Workers that dial out to NATS and serve the model (`omnigate worker`).
    Fleet(crate::fleet::FleetDeployment),
    /// A model on an Open Inference Protocol v2 server (Triton, KServe, MLServer).
    Oip(crate::oip::OipDeployment),
}

impl DeploymentConfig {
    /// Its name within the model, as `x-omnigate-deployment`, `GET /v1/deployments` and the
    /// logs show it: the `name` key, else its index in the model's list.
    pub fn name(&self, index: usize) -> String {
        let name = match self {
            Self::Openai(d) => d.name.as_deref(),
            Self::Embedded(d) => d.name.as_deref(),
            Self::Fleet(d) => d.name.as_deref(),
            Self::Oip(d) => d.name.as_deref(),
        };
        name.map_or_else(|| index.to_string(), str::to_owned)
    }

    /// Its share of requests under `strategy = "weighted"` (and of P2C's random draws).
    pub fn weight(&self) -> u32 {
        match self {
            Self::Openai(d) => d.weight,
            Self::Embedded(d) => d.weight,
            Self::Fleet(d) => d.weight,
            Self::Oip(d) => d.weight,
        }
    }

    /// Most requests in flight to it at once; more go elsewhere or wait.
    pub fn max_in_flight(&self) -> Option<usize> {
        match self {
            Self::Openai(d) => d.max_in_flight,
            Self::Embedded(d) => d.max_in_flight,
            Self::Fleet(d) => d.max_in_flight,
            Self::Oip(d) => d.max_in_flight,
        }
    }

    /// Whether `other` is built into the same backend: equal but for what only the router and
    /// the probes read (weight, `max_in_flight`, the probe interval). A reload keeps the running
    /// backend (its connections, its loaded weights) of a deployment that serves like before.
    pub fn serves_like(&self, other: &Self) -> bool {
        fn backend_part(deployment: &DeploymentConfig) -> DeploymentConfig {
            let mut d = deployment.clone();
            let (weight, max_in_flight, interval) = match &mut d {
                DeploymentConfig::Openai(d) => (
                    &mut d.weight,
                    &mut d.max_in_flight,
                    &mut d.health_interval_secs,
                ),
                DeploymentConfig::Embedded(d) => (
                    &mut d.weight,
                    &mut d.max_in_flight,
                    &mut d.health_interval_secs,
                ),
                DeploymentConfig::Fleet(d) => (
                    &mut d.weight,
                    &mut d.max_in_flight,
                    &mut d.health_interval_secs,
                ),
                DeploymentConfig::Oip(d) => (
                    &mut d.weight,
                    &mut d.max_in_flight,
                    &mut d.health_interval_secs,
                ),
            };
            (*weight, *max_in_flight, *interval) = (1, None, None);
            d
        }
        backend_part(self) == backend_part(other)
    }

    /// How often it is probed actively, if at all.
    pub fn health_interval_secs(&self) -> Option<f64> {
        match self {
            Self::Openai(d) => d.health_interval_secs,
            Self::Embedded(d) => d.health_interval_secs,
            Self::Fleet(d) => d.health_interval_secs,
            Self::Oip(d) => d.health_interval_secs,
        }
    }
}

pub(crate) fn default_weight() -> u32 {
    1
}

/// A remote OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// What `x-omnigate-deployment` and the deployments view call it (see
    /// [`DeploymentConfig::name`]).
    #[serde(default)]
    pub name: Option<String>,
    /// Share of requests (see [`DeploymentConfig::weight`]).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Most requests in flight to it at once.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// The server's own health route, from its root (`/health` on vLLM, TGI, llama.cpp); any
    /// 2xx is healthy. Unset: `GET {base_url}/models` is the probe.
    #[serde(default)]
    pub health_path: Option<String>,
    /// Probe it actively this often (seconds): a failed probe takes it out of rotation, a
    /// successful one brings an ejected deployment back at once. Unset: passive health only.
    #[serde(default)]
    pub health_interval_secs: Option<f64>,
}

fn default_timeout_secs() -> f64 {
    120.0
}

fn default_connect_timeout_secs() -> f64 {
    5.0
}

#[cfg(test)]
mod tests {
    use crate::load_str;

    fn deployment(extra: &str) -> super::DeploymentConfig {
        let toml = format!(
            "[models.m]\n[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"http://h:1/v1\"\n{extra}"
        );
        let mut config = load_str(&toml, "test").unwrap();
        config.models.remove("m").unwrap().deployments.remove(0)
    }

    #[test]
    fn only_what_the_backend_sees_makes_a_deployment_serve_differently() {
        let plain = deployment("");
        for routing_only in [
            "weight = 5",
            "max_in_flight = 3",
            "health_interval_secs = 2.0",
        ] {
            assert!(
                plain.serves_like(&deployment(routing_only)),
                "{routing_only}"
            );
        }
        for backend in [
            "model = \"other\"",
            "timeout_secs = 3.0",
            "api_key = \"sk-new\"",
            "health_path = \"/health\"",
            "name = \"east\"",
        ] {
            assert!(!plain.serves_like(&deployment(backend)), "{backend}");
        }
        assert!(deployment("api_key = \"sk-a\"").serves_like(&deployment("api_key = \"sk-a\"")));
        assert!(!deployment("api_key = \"sk-a\"").serves_like(&deployment("api_key = \"sk-b\"")));
    }
}
