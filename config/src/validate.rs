//! Checks that serde cannot express: ranges, non-empty lists, URL schemes, model names.

use crate::{
    AudioContract, Config, ConfigError, DeploymentConfig, ImageContract, MediaConfig, ModelConfig,
    Task, VideoContract,
};

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
        if let Some(every) = server.watch_config_secs {
            check_seconds("server.watch_config_secs", every)?;
        }
        for (i, key) in server.api_keys.iter().enumerate() {
            key.resolve(&format!("server.api_keys[{i}]"))?;
        }
        for (i, key) in server.admin_api_keys.iter().enumerate() {
            key.resolve(&format!("server.admin_api_keys[{i}]"))?;
        }
        validate_media(&self.media)?;
        for (name, model) in &self.models {
            validate_model(name, model)?;
            self.validate_fallbacks(name, model)?;
            crate::tenants::check_prices(&format!("models.{name}.prices"), model.prices.as_ref())?;
        }
        crate::tenants::validate_state(&self.state)?;
        if let Some(worker) = &self.worker {
            worker.validate()?;
        }
        if let Some(url) = &self.state.redis_url {
            url.resolve("state.redis_url")?;
        }
        crate::tenants::validate_keys(&self.keys, &self.teams)?;
        // With the `OTEL_*` variables it reads, so `omnigate check` catches a bad sampler too.
        self.telemetry.resolve(&|name| std::env::var(name).ok())?;
        Ok(())
    }

    /// Fallbacks name other models served here, none twice.
    fn validate_fallbacks(&self, name: &str, model: &ModelConfig) -> Result<(), ConfigError> {
        for (field, list) in [
            ("fallbacks", &model.fallbacks),
            ("context_window_fallbacks", &model.context_window_fallbacks),
        ] {
            for (i, fallback) in list.iter().enumerate() {
                let key = format!("models.{name}.{field}[{i}]");
                if fallback == name {
                    return Err(ConfigError::invalid(
                        key,
                        "a model cannot fall back on itself",
                    ));
                }
                if !self.models.contains_key(fallback) {
                    return Err(ConfigError::invalid(
                        key,
                        format!("no model named `{fallback}` is configured"),
                    ));
                }
                if list[..i].contains(fallback) {
                    return Err(ConfigError::invalid(
                        key,
                        format!("`{fallback}` is listed twice"),
                    ));
                }
            }
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
            "must name at least one of chat, embeddings, transcription, infer",
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
    validate_image(&format!("{key}.image"), &model.image)?;
    validate_audio(&format!("{key}.audio"), &model.audio)?;
    validate_video(&format!("{key}.video"), &model.video)?;
    crate::oip::validate_inputs(&format!("{key}.inputs"), &model.inputs)?;
    model.routing.validate(&format!("{key}.routing"))?;
    let mut names = std::collections::HashSet::new();
    for (i, deployment) in model.deployments.iter().enumerate() {
        let key = format!("{key}.deployments[{i}]");
        let name = deployment.name(i);
        // It travels as a response header: visible ASCII, no spaces.
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                format!("`{name}` must be non-empty visible ASCII without spaces"),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                format!("`{name}` names another deployment of this model too"),
            ));
        }
        if deployment.weight() == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.weight"),
                "must be at least 1",
            ));
        }
        if let Some(interval) = deployment.health_interval_secs() {
            check_seconds(&format!("{key}.health_interval_secs"), interval)?;
        }
        if deployment.max_in_flight() == Some(0) {
            return Err(ConfigError::invalid(
                format!("{key}.max_in_flight"),
                "must be at least 1 (leave it out for no cap)",
            ));
        }
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
                if let Some(path) = &openai.health_path
                    && !path.starts_with('/')
                {
                    return Err(ConfigError::invalid(
                        format!("{key}.health_path"),
                        "must start with `/` (a path from the server's root)",
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
            DeploymentConfig::Embedded(embedded) => embedded.validate(&key)?,
            DeploymentConfig::Fleet(fleet) => {
                fleet.nats.validate(&key)?;
                check_seconds(&format!("{key}.timeout_secs"), fleet.timeout_secs)?;
            }
            DeploymentConfig::Oip(oip) => oip.validate(&key)?,
        }
    }
    Ok(())
}

pub(crate) fn check_seconds(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("{value} is not a duration in seconds (0 < s <= 86400)"),
        ))
    }
}

fn check_positive(key: &str, value: Option<u64>) -> Result<(), ConfigError> {
    match value {
        Some(0) => Err(ConfigError::invalid(key, "must be at least 1")),
        _ => Ok(()),
    }
}

/// Checks one image contract; `key` is its table (`media.image` or `models.NAME.image`).
pub(crate) fn validate_image(key: &str, image: &ImageContract) -> Result<(), ConfigError> {
    check_positive(&format!("{key}.max_side"), image.max_side.map(u64::from))?;
    check_positive(&format!("{key}.max_pixels"), image.max_pixels)?;
    check_positive(
        &format!("{key}.low_detail_side"),
        image.low_detail_side.map(u64::from),
    )?;
    check_positive(
        &format!("{key}.max_input_side"),
        image.max_input_side.map(u64::from),
    )?;
    check_positive(&format!("{key}.max_input_pixels"), image.max_input_pixels)?;
    if let Some(quality) = image.jpeg_quality
        && !(1..=100).contains(&quality)
    {
        return Err(ConfigError::invalid(
            format!("{key}.jpeg_quality"),
            "must be 1-100",
        ));
    }
    if let Some([w, h]) = image.tensor_size
        && (w == 0 || h == 0 || u64::from(w) * u64::from(h) > 16_777_216)
    {
        return Err(ConfigError::invalid(
            format!("{key}.tensor_size"),
            "must be [width, height], each at least 1, at most 16 Mpx in all",
        ));
    }
    if let Some(std) = image.std
        && std.iter().any(|s| !s.is_finite() || *s == 0.0)
    {
        return Err(ConfigError::invalid(
            format!("{key}.std"),
            "values must be finite and non-zero",
        ));
    }
    if let Some(mean) = image.mean
        && mean.iter().any(|m| !m.is_finite())
    {
        return Err(ConfigError::invalid(
            format!("{key}.mean"),
            "values must be finite",
        ));
    }
    Ok(())
}

/// Checks one audio contract.
pub(crate) fn validate_audio(key: &str, audio: &AudioContract) -> Result<(), ConfigError> {
    if let Some(rate) = audio.sample_rate
        && !(1000..=384_000).contains(&rate)
    {
        return Err(ConfigError::invalid(
            format!("{key}.sample_rate"),
            "must be 1000-384000 Hz",
        ));
    }
    if let Some(seconds) = audio.max_seconds {
        check_seconds(&format!("{key}.max_seconds"), seconds)?;
    }
    Ok(())
}

/// Checks one video contract.
pub(crate) fn validate_video(key: &str, video: &VideoContract) -> Result<(), ConfigError> {
    if let Some(fps) = video.fps
        && !(fps.is_finite() && fps > 0.0 && fps <= 120.0)
    {
        return Err(ConfigError::invalid(
            format!("{key}.fps"),
            "must be in (0, 120]",
        ));
    }
    check_positive(&format!("{key}.frames"), video.frames.map(u64::from))?;
    check_positive(
        &format!("{key}.max_frames"),
        video.max_frames.map(u64::from),
    )?;
    check_positive(
        &format!("{key}.max_input_side"),
        video.max_input_side.map(u64::from),
    )?;
    if let Some(seconds) = video.max_seconds {
        check_seconds(&format!("{key}.max_seconds"), seconds)?;
    }
    Ok(())
}

fn validate_media(media: &MediaConfig) -> Result<(), ConfigError> {
    for (key, value) in [
        ("media.max_item_bytes", media.max_item_bytes),
        ("media.max_request_bytes", media.max_request_bytes),
    ] {
        check_positive(key, Some(value as u64))?;
    }
    check_seconds("media.decode_timeout_secs", media.decode_timeout_secs)?;
    check_seconds(
        "media.fetch.image_timeout_secs",
        media.fetch.image_timeout_secs,
    )?;
    check_seconds(
        "media.fetch.audio_timeout_secs",
        media.fetch.audio_timeout_secs,
    )?;
    check_seconds(
        "media.fetch.video_timeout_secs",
        media.fetch.video_timeout_secs,
    )?;
    if media.fetch.max_redirects > 10 {
        return Err(ConfigError::invalid(
            "media.fetch.max_redirects",
            "at most 10",
        ));
    }
    if let Some(root) = &media.fetch.file_root
        && !root.is_dir()
    {
        return Err(ConfigError::invalid(
            "media.fetch.file_root",
            format!("{} is not a directory", root.display()),
        ));
    }
    validate_image("media.image", &media.image)?;
    validate_audio("media.audio", &media.audio)?;
    validate_video("media.video", &media.video)
}
