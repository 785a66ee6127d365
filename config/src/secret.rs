//! Secrets in config: written as `env::NAME` (read from the environment at startup) or inline,
//! and held in `secrecy`'s [`SecretString`] from then on: never printed by `Debug`, zeroed when
//! dropped, handed on as a `SecretString` to the client that finally sends it.

use crate::ConfigError;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// A secret as written in the config file: a reference to resolve at startup.
#[derive(Clone)]
pub enum SecretRef {
    /// `env::NAME`: the value of environment variable `NAME`.
    Env(String),
    /// An inline value. Allowed for local development; prefer `env::`.
    Inline(Secret),
}

impl SecretRef {
    /// Prefix that marks an environment-variable reference.
    pub const ENV_PREFIX: &'static str = "env::";

    /// Resolves the reference; `key` names the config key in the error.
    pub fn resolve(&self, key: &str) -> Result<Secret, ConfigError> {
        match self {
            Self::Inline(secret) => Ok(secret.clone()),
            Self::Env(name) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
                Ok(_) => Err(ConfigError::invalid(
                    key,
                    format!("environment variable {name} is empty"),
                )),
                Err(_) => Err(ConfigError::invalid(
                    key,
                    format!("environment variable {name} is not set"),
                )),
            },
        }
    }
}

/// Whether a reloaded config changed a secret (so the deployment using it is built again). An
/// inline value is compared in constant time, like every other comparison of a secret.
impl PartialEq for SecretRef {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Env(a), Self::Env(b)) => a == b,
            (Self::Inline(a), Self::Inline(b)) => constant_time_eq::constant_time_eq(
                a.0.expose_secret().as_bytes(),
                b.0.expose_secret().as_bytes(),
            ),
            _ => false,
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env::{name}"),
            Self::Inline(_) => f.write_str("<inline secret>"),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        match raw.strip_prefix(Self::ENV_PREFIX) {
            Some(name) if is_env_name(name) => Ok(Self::Env(name.to_owned())),
            Some(name) => Err(serde::de::Error::custom(format!(
                "`env::{name}` is not a valid environment variable name"
            ))),
            None if raw.is_empty() => Err(serde::de::Error::custom("secret is empty")),
            None => Ok(Self::Inline(Secret::new(raw))),
        }
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A resolved secret value. Its `Debug` never shows it and it has no `Display`; comparing two
/// is left to the one place that must, in constant time.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value (tests and programmatic setup).
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The secret as `secrecy`'s type, for a client that sends it on.
    pub fn into_inner(self) -> SecretString {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err, reason = "figment::Jail's closure signature")]
mod tests {
    use super::*;
    use figment::providers::Format;

    #[derive(Deserialize)]
    struct Holder {
        key: SecretRef,
    }

    fn parse(value: &str) -> Result<SecretRef, String> {
        let doc = format!("key = {value:?}");
        let holder: Result<Holder, _> =
            figment::Figment::from(figment::providers::Toml::string(&doc)).extract();
        holder.map(|h| h.key).map_err(|e| e.to_string())
    }

    #[test]
    fn env_reference_is_resolved_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OMNIGATE_TEST_SECRET", "s3cret");
            let secret = parse("env::OMNIGATE_TEST_SECRET")?
                .resolve("key")
                .map_err(|e| e.to_string())?;
            assert_eq!(secret.expose(), "s3cret");
            Ok(())
        });
    }

    #[test]
    fn missing_env_var_names_key_and_variable() {
        let err = parse("env::OMNIGATE_SURELY_UNSET_VAR")
            .unwrap()
            .resolve("models.m.deployments[0].api_key")
            .unwrap_err()
            .to_string();
        assert!(err.contains("models.m.deployments[0].api_key"), "{err}");
        assert!(err.contains("OMNIGATE_SURELY_UNSET_VAR"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_value() {
        let secret = parse("sk-very-secret").unwrap();
        assert!(!format!("{secret:?}").contains("very-secret"));
        let resolved = secret.resolve("k").unwrap();
        assert!(!format!("{resolved:?}").contains("very-secret"));
    }

    #[test]
    fn malformed_env_reference_is_rejected() {
        assert!(parse("env::").is_err());
        assert!(parse("env::BAD-NAME").is_err());
        assert!(parse("").is_err());
    }
}
