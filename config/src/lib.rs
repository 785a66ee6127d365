//! omnigate's configuration: one TOML file plus `OMNIGATE_*` environment overrides, parsed into one
//! typed [`Config`] and validated before the server starts, with errors that name the offending key.
//!
//! ```toml
//! [server]
//! bind = "127.0.0.1:8080"
//! api_keys = ["env::OMNIGATE_API_KEY"]
//!
//! [models."gpt-4o-mini"]
//! modalities = ["text", "image"]
//!
//! [[models."gpt-4o-mini".deployments]]
//! kind = "openai"
//! base_url = "https://api.openai.com/v1"
//! api_key = "env::OPENAI_API_KEY"
//! ```

mod embedded;
mod error;
mod fleet;
mod load;
mod media;
mod model;
mod oip;
mod routing;
mod secret;
mod server;
mod telemetry;
mod tenants;
mod validate;

pub use embedded::{
    EMBEDDED_DEFAULTS, EmbeddedArchitecture, EmbeddedDeployment, EmbeddedDevice, WeightsConfig,
};
pub use error::ConfigError;
pub use fleet::{FleetDeployment, NatsConfig, WorkerConfig};
pub use load::{ENV_PREFIX, load, load_str};
pub use media::{
    AudioContract, ChannelMode, FetchConfig, FitMode, ImageContract, ImageOutputKind, MediaConfig,
    VideoAdapt, VideoContract,
};
pub use model::{DeploymentConfig, Modality, ModelConfig, OpenAiDeployment, Task};
pub use oip::{
    GenerateDialect, MEDIA_DATATYPES, OipDeployment, OipProtocol, TensorInput, TensorLayout,
    TensorMedia,
};
pub use routing::{BalanceStrategy, RoutingConfig};
pub use secret::{Secret, SecretRef};
pub use server::{LogFormat, ServerConfig};
pub use telemetry::{OtlpProtocol, Sampling, TelemetryConfig, TraceExport};
pub use tenants::{KeyConfig, StateConfig, TeamConfig};

use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole gateway configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener, limits, authentication and logging.
    #[serde(default)]
    pub server: ServerConfig,
    /// Media limits and default contracts.
    #[serde(default)]
    pub media: MediaConfig,
    /// Models by the public name clients put in `"model"`.
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    /// Where embedded models' weights are fetched from and cached.
    #[serde(default)]
    pub weights: WeightsConfig,
    /// Where limits, budgets, usage and API-made keys live.
    #[serde(default)]
    pub state: StateConfig,
    /// Virtual API keys declared here (more can be made through `/admin/keys`).
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// Limits and budgets shared by the keys of a team.
    #[serde(default)]
    pub teams: BTreeMap<String, TeamConfig>,
    /// This process as a fleet worker (`omnigate worker`): where it dials out to.
    #[serde(default)]
    pub worker: Option<WorkerConfig>,
    /// OpenTelemetry traces over OTLP (off unless asked for; read at startup only).
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

impl Config {
    /// Adds the embedded default models ([`EMBEDDED_DEFAULTS`]) when the configuration names
    /// none, so a bare `omnigate serve` answers real requests. Returns whether it did.
    pub fn use_embedded_defaults_if_empty(&mut self) -> Result<bool, ConfigError> {
        if !self.models.is_empty() {
            return Ok(false);
        }
        #[derive(Deserialize)]
        struct Models {
            models: BTreeMap<String, ModelConfig>,
        }
        let defaults: Models = toml_defaults()?;
        self.models = defaults.models;
        self.validate()?;
        Ok(true)
    }
}

fn toml_defaults<T: serde::de::DeserializeOwned>() -> Result<T, ConfigError> {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::string(EMBEDDED_DEFAULTS))
        .extract()
        .map_err(|e| ConfigError::Parse(format!("embedded defaults: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_example_config_is_valid() {
        let example = include_str!("../omnigate.toml");
        let config = crate::load_str(example, "config/omnigate.toml").unwrap();
        assert!(config.models.contains_key("local-llm"));
    }

    #[test]
    fn an_empty_config_gets_the_embedded_models_and_a_full_one_keeps_its_own() {
        let mut config = crate::load_str("", "test").unwrap();
        assert!(config.use_embedded_defaults_if_empty().unwrap());
        let names: Vec<&str> = config.models.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "all-minilm-l6-v2",
                "pp-ocrv4",
                "silero-vad",
                "smollm2-135m-instruct",
                "whisper-tiny.en"
            ]
        );
        assert!(!config.use_embedded_defaults_if_empty().unwrap());
    }
}
