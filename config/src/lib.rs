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

mod error;
mod load;
mod media;
mod model;
mod secret;
mod server;
mod validate;

pub use error::ConfigError;
pub use load::{ENV_PREFIX, load, load_str};
pub use media::{
    AudioContract, ChannelMode, FetchConfig, FitMode, ImageContract, ImageOutputKind, MediaConfig,
    VideoContract,
};
pub use model::{DeploymentConfig, Modality, ModelConfig, OpenAiDeployment, Task};
pub use secret::{Secret, SecretRef};
pub use server::{LogFormat, ServerConfig};

use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole gateway configuration.
#[derive(Debug, Clone, Default, Deserialize)]
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
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_example_config_is_valid() {
        let example = include_str!("../omnigate.toml");
        let config = crate::load_str(example, "config/omnigate.toml").unwrap();
        assert!(config.models.contains_key("local-llm"));
    }
}
