//! Why a deployment could not be built from its config. It lives beside the trait so that every
//! backend crate and the one factory that builds them share it without depending on each other.

/// A deployment that cannot start: the config key at fault and what is wrong, e.g.
/// `cannot start deployment `models.m.deployments[0].device`: this build has no CUDA backend`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot start deployment `{key}`: {message}")]
pub struct BuildError {
    /// The config key of the deployment (or of the field inside it that is wrong).
    pub key: String,
    /// What failed.
    pub message: String,
}

impl BuildError {
    /// A failure of the deployment at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}
