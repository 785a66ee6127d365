//! Reading the configuration: TOML file (optional) + `OMNIGATE_SECTION__KEY` environment overrides.

use crate::{Config, ConfigError};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use std::path::Path;

/// Environment variables with this prefix *and* a `__` separator override config keys:
/// `OMNIGATE_SERVER__BIND=0.0.0.0:8080` sets `server.bind`. Variables without `__`
/// (such as `OMNIGATE_API_KEY`, referenced as `env::OMNIGATE_API_KEY`) are left alone.
pub const ENV_PREFIX: &str = "OMNIGATE_";

/// Loads `path` (if given) plus environment overrides, then validates.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?,
        None => String::new(),
    };
    let origin = path.map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
    load_str(&text, &origin)
}

/// Loads a TOML document plus environment overrides, then validates. `origin` names the
/// source in error messages.
pub fn load_str(toml: &str, origin: &str) -> Result<Config, ConfigError> {
    let figment = Figment::from(Toml::string(toml)).merge(
        Env::prefixed(ENV_PREFIX)
            .filter(|key| key.as_str().contains("__"))
            .split("__"),
    );
    let config: Config = figment
        .extract()
        .map_err(|err| ConfigError::Parse(describe(err, origin)))?;
    config.validate()?;
    Ok(config)
}

/// One line per problem, each naming the key and where its value came from.
fn describe(err: figment::Error, origin: &str) -> String {
    err.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = match e.metadata.as_ref().map(|m| m.name.as_ref()) {
                Some(name) if name.contains("environment") => "environment".to_owned(),
                _ => origin.to_owned(),
            };
            if key.is_empty() {
                format!("{source}: {}", e.kind)
            } else {
                format!("invalid config key `{key}` ({source}): {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[allow(clippy::result_large_err, reason = "figment::Jail's closure signature")]
mod tests {
    use super::*;
    use crate::{DeploymentConfig, Modality, Task};

    const EXAMPLE: &str = r#"
        [server]
        bind = "127.0.0.1:9999"
        api_keys = ["env::OMNIGATE_TEST_KEY"]

        [models."chat-model"]
        modalities = ["text", "image"]

        [[models."chat-model".deployments]]
        kind = "openai"
        base_url = "http://127.0.0.1:8000/v1"
        model = "upstream-name"
        timeout_secs = 2.5

        [models.embedder]
        tasks = ["embeddings"]
        [[models.embedder.deployments]]
        kind = "openai"
        base_url = "https://example.com/v1"
    "#;

    /// Loads under figment's `Jail`, which serialises tests that touch the process environment.
    fn load_isolated(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let mut result = None;
        figment::Jail::expect_with(|jail| {
            for (name, value) in env {
                jail.set_env(name, value);
            }
            result = Some(load_str(toml, "test.toml").map_err(|e| e.to_string()));
            Ok(())
        });
        result.unwrap()
    }

    fn err_of(toml: &str) -> String {
        load_isolated(toml, &[]).unwrap_err()
    }

    #[test]
    fn example_parses_into_typed_values() {
        let config = load_isolated(EXAMPLE, &[("OMNIGATE_TEST_KEY", "k")]).unwrap();
        assert_eq!(config.server.bind.port(), 9999);
        let chat = &config.models["chat-model"];
        assert_eq!(chat.tasks, vec![Task::Chat]);
        assert_eq!(chat.modalities, vec![Modality::Text, Modality::Image]);
        let DeploymentConfig::Openai(dep) = &chat.deployments[0] else {
            panic!("an openai deployment")
        };
        assert_eq!(dep.model.as_deref(), Some("upstream-name"));
        assert!((dep.timeout_secs - 2.5).abs() < f64::EPSILON);
        assert_eq!(config.models["embedder"].tasks, vec![Task::Embeddings]);
    }

    #[test]
    fn embedded_sources_are_checked_and_named() {
        let base = "[models.m]\ntasks = [\"embeddings\"]\n[[models.m.deployments]]\nkind = \"embedded\"\narchitecture = \"minilm\"\n";
        assert!(load_isolated(base, &[]).is_ok());
        for (extra, key) in [
            ("path = \"/m\"\nhf = \"a/b\"", "models.m.deployments[0]"),
            ("pypi = \"x==1\"", "models.m.deployments[0].sha256"),
            ("sha256 = \"ab\"", "models.m.deployments[0].pypi"),
            ("revision = \"main\"", "models.m.deployments[0].hf"),
            (
                "queue_capacity = 0",
                "models.m.deployments[0].queue_capacity",
            ),
            (
                "max_queue_delay_ms = -1.0",
                "models.m.deployments[0].max_queue_delay_ms",
            ),
            ("device = \"gpu\"", "`device = \"gpu\"` is not a device"),
        ] {
            let err = load_isolated(&format!("{base}{extra}\n"), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
        let err = load_isolated(&base.replace("minilm", "gpt5"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("models.m.deployments") && err.contains("silero_vad"),
            "{err}"
        );
    }

    #[test]
    fn deployment_names_are_unique_header_safe_and_default_to_the_index() {
        let two = |a: &str, b: &str| {
            format!(
                "[models.m]\n[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"http://a/v1\"\n{a}\n[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"http://b/v1\"\n{b}\n"
            )
        };
        let config = load_isolated(&two("name = \"east\"", ""), &[]).unwrap();
        let names: Vec<String> = config.models["m"]
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| d.name(i))
            .collect();
        assert_eq!(names, ["east", "1"]);
        let err = err_of(&two("name = \"a\"", "name = \"a\""));
        assert!(
            err.contains("models.m.deployments[1].name") && err.contains("another"),
            "{err}"
        );
        // The index another deployment would default to is taken too.
        let err = err_of(&two("", "name = \"0\""));
        assert!(err.contains("models.m.deployments[1].name"), "{err}");
        let err = err_of(&two("name = \"us east\"", ""));
        assert!(err.contains("models.m.deployments[0].name"), "{err}");
    }

    /// The example config's section from `from` to `to` (or its end), its commented-out settings
    /// (a `# ` before a lowercase key or a `[table]`) uncommented.
    fn uncommented_example(from: &str, to: Option<&str>) -> String {
        let example = include_str!("../omnigate.toml");
        let start = example.find(from).unwrap();
        let end = to.map_or(example.len(), |to| {
            start + example[start..].find(to).unwrap()
        });
        example[start..end]
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => {
                    rest
                }
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect()
    }

    #[test]
    fn the_example_configs_commented_telemetry_parses_once_uncommented() {
        let uncommented = uncommented_example("[telemetry]", None);
        let config = load_isolated(&uncommented, &[("OTLP_API_KEY", "example-key")]).unwrap();
        let telemetry = &config.telemetry;
        assert_eq!(telemetry.enabled, Some(true));
        assert_eq!(telemetry.protocol, Some(crate::OtlpProtocol::Http));
        assert_eq!(telemetry.sampling_ratio, Some(0.1));
        assert_eq!(telemetry.headers.len(), 1);
        let endpoint = telemetry.otlp_endpoint.as_ref().map(url::Url::as_str);
        assert_eq!(endpoint, Some("http://127.0.0.1:4318/"));
    }

    #[test]
    fn the_example_configs_commented_tenants_parse_once_uncommented() {
        let uncommented = uncommented_example("# Tenants:", Some("# OpenTelemetry traces"));
        let base = "[models.\"local-llm\"]\n[[models.\"local-llm\".deployments]]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n";
        let config = load_isolated(
            &format!("{base}{uncommented}"),
            &[
                ("RESEARCH_CI_KEY", "sk-og-example"),
                ("OMNIGATE_REDIS_URL", "redis://127.0.0.1:6379"),
            ],
        )
        .unwrap();
        assert_eq!(config.keys[0].id, "research-ci");
        assert_eq!(config.keys[0].limits.requests_per_minute, Some(600));
        assert!(config.teams.contains_key("research"));
        assert!(config.models["local-llm"].prices.is_some());
        assert!(config.state.redis_url.is_some());
    }

    #[test]
    fn tenant_settings_are_checked_and_named() {
        for (toml, key) in [
            ("[[keys]]\nid = \"a\"\n", "keys[0]"),
            (
                "[[keys]]\nid = \"a\"\nsecret = \"s\"\nlimits = { requests_per_minute = 0 }\n",
                "keys[0].limits.requests_per_minute",
            ),
            (
                "[[keys]]\nid = \"a\"\nsecret_sha256 = \"abc\"\n",
                "keys[0].secret_sha256",
            ),
            (
                "[[keys]]\nid = \"a\"\nsecret = \"s\"\nmodels = [\"[\"]\n",
                "keys[0].models",
            ),
            (
                "[[keys]]\nid = \"a\"\nsecret = \"s\"\n[[keys]]\nid = \"a\"\nsecret = \"t\"\n",
                "keys[1].id",
            ),
            (
                "[teams.t]\nbudget = { hard_usd = -1.0 }\n",
                "teams.t.budget.hard_usd",
            ),
            ("[state]\ntimeout_ms = 0.0\n", "state.timeout_ms"),
            ("[state]\non_unavailable = \"maybe\"\n", "on_unavailable"),
            (
                "[models.m]\n[models.m.prices]\nper_megapixel = -2.0\n[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"http://a/v1\"\n",
                "models.m.prices.per_megapixel",
            ),
        ] {
            let err = err_of(toml);
            assert!(err.contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn fleet_and_worker_settings_are_checked_and_named() {
        let fleet = |extra: &str| {
            format!(
                "[models.m]\n[[models.m.deployments]]\nkind = \"fleet\"\nnats_url = \"nats://127.0.0.1:4222\"\n{extra}\n"
            )
        };
        assert!(load_isolated(&fleet(""), &[]).is_ok());
        for (extra, key) in [
            (
                "subject_prefix = \"a..b\"",
                "models.m.deployments[0].subject_prefix",
            ),
            (
                "subject_prefix = \"a*\"",
                "models.m.deployments[0].subject_prefix",
            ),
            ("user = \"u\"", "models.m.deployments[0].user"),
            ("timeout_secs = 0.0", "models.m.deployments[0].timeout_secs"),
            (
                "token = \"env::NO_SUCH_NATS_TOKEN\"",
                "models.m.deployments[0].token",
            ),
            (
                "token = \"t\"\ncreds_file = \"/x.creds\"",
                "models.m.deployments[0]",
            ),
        ] {
            let err = err_of(&fleet(extra));
            assert!(err.contains(key), "{extra}: {err}");
        }
        let worker = |extra: &str| format!("[worker]\nnats_url = \"nats://a:4222\"\n{extra}\n");
        assert!(load_isolated(&worker(""), &[]).is_ok());
        assert!(err_of(&worker("max_in_flight = 0")).contains("worker.max_in_flight"));
        assert!(
            err_of(&worker("heartbeat_interval_secs = -1.0"))
                .contains("worker.heartbeat_interval_secs")
        );
        assert!(err_of("[worker]\nnats_url = \"\"\n").contains("worker.nats_url"));
    }

    #[test]
    fn empty_config_is_valid_defaults() {
        let config = load_isolated("", &[]).unwrap();
        assert_eq!(config.server.bind.port(), 8080);
        assert!(config.models.is_empty());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = err_of("[server]\nbindd = \"1.2.3.4:1\"\n");
        assert!(err.contains("server.bindd"), "{err}");
        assert!(err.contains("test.toml"), "{err}");
    }

    #[test]
    fn unknown_key_in_deployment_is_named() {
        let err = err_of(
            "[models.m]\n[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"http://h/v1\"\nbase_ulr = 1\n",
        );
        assert!(err.contains("base_ulr"), "{err}");
        assert!(err.contains("models.m.deployments"), "{err}");
    }

    #[test]
    fn unknown_kind_is_named() {
        let err = err_of("[models.m]\n[[models.m.deployments]]\nkind = \"telepathy\"\n");
        assert!(err.contains("telepathy"), "{err}");
    }

    #[test]
    fn bad_url_scheme_is_named() {
        let err = err_of(
            "[models.m]\n[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"ftp://h/v1\"\n",
        );
        assert!(err.contains("models.m.deployments[0].base_url"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = err_of("[server]\nmax_concurrent_requests = \"many\"\n");
        assert!(err.contains("server.max_concurrent_requests"), "{err}");
    }

    #[test]
    fn media_contracts_merge_and_bad_values_are_named() {
        let toml = "[media.image]\nmax_side = 1024\n[models.m]\nmodalities = [\"text\", \"image\"]\n[models.m.image]\noutput = \"png\"\n[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"http://h/v1\"\n";
        let config = load_isolated(toml, &[]).unwrap();
        assert_eq!(config.media.image.max_side, Some(1024));
        assert_eq!(
            config.models["m"].image.output,
            Some(crate::ImageOutputKind::Png)
        );
        let bad = toml.replace("output = \"png\"", "jpeg_quality = 0");
        assert!(err_of(&bad).contains("models.m.image.jpeg_quality"));
        let bad = "[media.video]\nfps = 0\n";
        assert!(err_of(bad).contains("media.video.fps"));
        let bad = "[media.image]\nfit = \"squash\"\n";
        assert!(err_of(bad).contains("media.image.fit"));
    }

    #[test]
    fn no_deployments_is_rejected() {
        let err = err_of("[models.m]\ndeployments = []\n");
        assert!(err.contains("models.m.deployments"), "{err}");
    }

    #[test]
    fn bad_timeout_is_rejected() {
        let err = err_of(
            "[models.m]\n[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"http://h/v1\"\ntimeout_secs = -1\n",
        );
        assert!(
            err.contains("models.m.deployments[0].timeout_secs"),
            "{err}"
        );
    }

    #[test]
    fn missing_secret_env_var_is_named() {
        let err = err_of("[server]\napi_keys = [\"env::OMNIGATE_DEFINITELY_UNSET\"]\n");
        assert!(err.contains("server.api_keys[0]"), "{err}");
        assert!(err.contains("OMNIGATE_DEFINITELY_UNSET"), "{err}");
    }

    #[test]
    fn env_overrides_with_double_underscore() {
        let config = load_isolated(
            "",
            &[
                ("OMNIGATE_SERVER__BIND", "127.0.0.1:7070"),
                ("OMNIGATE_SERVER__MAX_CONCURRENT_REQUESTS", "7"),
                // A plain OMNIGATE_ variable holds a secret; it is not an override.
                ("OMNIGATE_API_KEY", "whatever"),
            ],
        )
        .unwrap();
        assert_eq!(config.server.bind.port(), 7070);
        assert_eq!(config.server.max_concurrent_requests, 7);
    }

    #[test]
    fn bad_env_override_names_key_and_environment() {
        let err = load_isolated("", &[("OMNIGATE_SERVER__BINDD", "x")]).unwrap_err();
        assert!(err.contains("server.bindd"), "{err}");
        assert!(err.contains("environment"), "{err}");
    }
}
