//! Checks that serde cannot express: ranges, non-empty lists, URL schemes, model names.

use crate::{Config, ConfigError, DeploymentConfig, ModelConfig, Task};

impl Config {
    /// Checks every value; the first problem found is returned, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        if server.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                "must be at least 1024",
            ));
        }
        if server.max_concurrent_requests == 0 {
            return Err(ConfigError::invalid(
                "server.max_concurrent_requests",
                "must be at least 1",
            ));
        }
        check_seconds(
            "server.readiness_timeout_secs",
            server.readiness_timeout_secs,
        )?;
        for (i, key) in server.api_keys.iter().enumerate() {
            key.resolve(&format!("server.api_keys[{i}]"))?;
        }
        for (name, model) in &self.models {
            validate_model(name, model)?;
        }
        Ok(())
    }
}

fn validate_model(name: &str, model: &ModelConfig) -> Result<(), ConfigError> {
    let key = format!("models.{name}");
    if name.is_empty() || name.len() > 256 || name.chars().any(|c| c.is_control()) {
        return Err(ConfigError::invalid(
            key,
            "model names must be 1-256 printable characters",
        ));
    }
    if model.tasks.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.tasks"),
            "must name at least one of chat, embeddings, transcription",
        ));
    }
    if model.modalities.is_empty() && model.tasks.contains(&Task::Chat) {
        return Err(ConfigError::invalid(
            format!("{key}.modalities"),
            "a chat model must accept at least one modality",
        ));
    }
    if model.deployments.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.deployments"),
            "must list at least one deployment",
        ));
    }
    for (i, deployment) in model.deployments.iter().enumerate() {
        let key = format!("{key}.deployments[{i}]");
        match deployment {
            DeploymentConfig::Openai(openai) => {
                if !matches!(openai.base_url.scheme(), "http" | "https") {
                    return Err(ConfigError::invalid(
                        format!("{key}.base_url"),
                        format!("`{}` is not an http(s) URL", openai.base_url),
                    ));
                }
                if openai.base_url.host_str().is_none_or(str::is_empty) {
                    return Err(ConfigError::invalid(
                        format!("{key}.base_url"),
                        "has no host",
                    ));
                }
                if openai.model.as_deref().is_some_and(str::is_empty) {
                    return Err(ConfigError::invalid(
                        format!("{key}.model"),
                        "must not be empty (leave it out to use the public name)",
                    ));
                }
                check_seconds(&format!("{key}.timeout_secs"), openai.timeout_secs)?;
                check_seconds(
                    &format!("{key}.connect_timeout_secs"),
                    openai.connect_timeout_secs,
                )?;
                if let Some(api_key) = &openai.api_key {
                    api_key.resolve(&format!("{key}.api_key"))?;
                }
            }
        }
    }
    Ok(())
}

fn check_seconds(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("{value} is not a duration in seconds (0 < s <= 86400)"),
        ))
    }
}
