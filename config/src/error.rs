//! Configuration errors: every one names the key (or file) that is wrong.

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file that was asked for.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The TOML or an environment override does not fit the schema.
    #[error("{0}")]
    Parse(String),
    /// A value parsed but is not acceptable.
    #[error("invalid config key `{key}`: {message}")]
    Invalid {
        /// Dotted path of the key, e.g. `models.gpt-4o.deployments[0].base_url`.
        key: String,
        /// What is wrong and, where possible, what would be right.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}
