//! The `[telemetry]` section: OpenTelemetry traces exported over OTLP. Off unless the section or
//! the standard `OTEL_*` variables ask for them; where both say something, the config file wins
//! (OpenTelemetry's own rule: explicit configuration over the environment), except for export
//! headers, which the exporter merges with the environment's winning on the same name.

use crate::{ConfigError, Secret, SecretRef};
use serde::Deserialize;
use std::collections::BTreeMap;
use url::Url;

/// Where and how traces are exported.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// `true` exports traces (to `localhost` if no endpoint is given anywhere), `false` never
    /// does; unset: on when an endpoint is configured here or in `OTEL_EXPORTER_OTLP_ENDPOINT` /
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER=otlp`, and off when
    /// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
    pub enabled: Option<bool>,
    /// The collector: for gRPC its address (`http://collector:4317`), for HTTP its base
    /// (`http://collector:4318`, spans go to `/v1/traces` under it).
    pub otlp_endpoint: Option<Url>,
    /// `grpc` or `http` (HTTP with protobuf bodies). Default: `OTEL_EXPORTER_OTLP_PROTOCOL`, else
    /// `http`.
    pub protocol: Option<OtlpProtocol>,
    /// Headers sent with every export (an API key of a hosted collector: `env::NAME`).
    pub headers: BTreeMap<String, SecretRef>,
    /// Share of new traces recorded, 0 to 1. A request carrying a `traceparent` follows its
    /// caller's decision instead (parent-based sampling). Default: `OTEL_TRACES_SAMPLER(_ARG)`,
    /// else 1.
    pub sampling_ratio: Option<f64>,
    /// `service.name` of the spans. Default: `OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else `omnigate`.
    pub service_name: Option<String>,
}

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtlpProtocol {
    /// OTLP/gRPC (port 4317 by convention).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318 by convention).
    Http,
}

/// Which traces are recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Share of traces recorded, decided from the trace id (the same on every replica).
    pub ratio: f64,
    /// Whether a parent's decision (a client's `traceparent`) wins over the ratio.
    pub parent_based: bool,
}

/// Traces to export, worked out from `[telemetry]` and the environment.
#[derive(Debug, Clone)]
pub struct TraceExport {
    /// gRPC or HTTP.
    pub protocol: OtlpProtocol,
    /// Where spans are sent, used as it is (for HTTP, the traces route itself).
    pub endpoint: Url,
    /// The config's export headers, secrets resolved.
    pub headers: Vec<(String, Secret)>,
    /// Which traces are recorded.
    pub sampling: Sampling,
    /// `service.name`.
    pub service_name: String,
}

const TRACES_PATH: &str = "v1/traces";

impl TelemetryConfig {
    /// What to export, or `None` when tracing is off; `env` reads an environment variable (an
    /// empty value counts as unset, as OpenTelemetry specifies). Errors name the config key or
    /// the variable.
    pub fn resolve(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<TraceExport>, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let exporter = match env("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
            None => None,
            Some("otlp") => Some(true),
            Some("none") => Some(false),
            Some(other) => {
                return Err(from_env(
                    "OTEL_TRACES_EXPORTER",
                    format!("`{other}` is not supported; use `otlp` or `none`"),
                ));
            }
        };
        let env_endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .map(|v| ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v, false))
            .or_else(|| {
                env("OTEL_EXPORTER_OTLP_ENDPOINT").map(|v| ("OTEL_EXPORTER_OTLP_ENDPOINT", v, true))
            });
        let disabled =
            env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let enabled = self.enabled.unwrap_or_else(|| {
            !disabled
                && exporter != Some(false)
                && (self.otlp_endpoint.is_some()
                    || env_endpoint.is_some()
                    || exporter == Some(true))
        });
        if !enabled {
            return Ok(None);
        }
        let protocol = match self.protocol {
            Some(protocol) => protocol,
            None => env_protocol(&env)?,
        };
        let endpoint = match (&self.otlp_endpoint, env_endpoint) {
            (Some(url), _) => {
                check_scheme("telemetry.otlp_endpoint", url)?;
                base_to_traces(url, protocol)
            }
            (None, Some((name, value, is_base))) => {
                let url = Url::parse(value.trim()).map_err(|e| from_env(name, e.to_string()))?;
                check_scheme(&format!("{name} (environment)"), &url)?;
                if is_base {
                    base_to_traces(&url, protocol)
                } else {
                    url
                }
            }
            (None, None) => {
                let default = match protocol {
                    OtlpProtocol::Grpc => "http://localhost:4317",
                    OtlpProtocol::Http => "http://localhost:4318/v1/traces",
                };
                Url::parse(default)
                    .map_err(|e| ConfigError::invalid("telemetry.otlp_endpoint", e.to_string()))?
            }
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let key = format!("telemetry.headers.{name}");
            if name.is_empty() || !name.bytes().all(is_header_name_byte) {
                return Err(ConfigError::invalid(key, "not a valid header name"));
            }
            headers.push((name.to_ascii_lowercase(), value.resolve(&key)?));
        }
        let sampling = match self.sampling_ratio {
            Some(ratio) if (0.0..=1.0).contains(&ratio) => Sampling {
                ratio,
                parent_based: true,
            },
            Some(_) => {
                return Err(ConfigError::invalid(
                    "telemetry.sampling_ratio",
                    "must be between 0 and 1",
                ));
            }
            None => env_sampling(&env)?,
        };
        let service_name = match &self.service_name {
            Some(name) if name.trim().is_empty() => {
                return Err(ConfigError::invalid(
                    "telemetry.service_name",
                    "must not be empty",
                ));
            }
            Some(name) => name.clone(),
            None => env("OTEL_SERVICE_NAME")
                .or_else(|| resource_service_name(env("OTEL_RESOURCE_ATTRIBUTES")?))
                .unwrap_or_else(|| "omnigate".to_owned()),
        };
        Ok(Some(TraceExport {
            protocol,
            endpoint,
            headers,
            sampling,
            service_name,
        }))
    }
}

fn from_env(name: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::invalid(format!("{name} (environment)"), message)
}

fn env_protocol(env: &dyn Fn(&str) -> Option<String>) -> Result<OtlpProtocol, ConfigError> {
    let name = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .into_iter()
    .find(|name| env(name).is_some());
    let Some(name) = name else {
        return Ok(OtlpProtocol::Http);
    };
    match env(name).as_deref().map(str::trim) {
        Some("grpc") => Ok(OtlpProtocol::Grpc),
        Some("http/protobuf") => Ok(OtlpProtocol::Http),
        Some(other) => Err(from_env(
            name,
            format!("`{other}` is not supported; use `grpc` or `http/protobuf`"),
        )),
        None => Ok(OtlpProtocol::Http),
    }
}

/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`; parent-based, always on, by default.
fn env_sampling(env: &dyn Fn(&str) -> Option<String>) -> Result<Sampling, ConfigError> {
    let Some(sampler) = env("OTEL_TRACES_SAMPLER") else {
        return Ok(Sampling {
            ratio: 1.0,
            parent_based: true,
        });
    };
    let ratio = || -> Result<f64, ConfigError> {
        let Some(arg) = env("OTEL_TRACES_SAMPLER_ARG") else {
            return Ok(1.0);
        };
        match arg.trim().parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
            _ => Err(from_env(
                "OTEL_TRACES_SAMPLER_ARG",
                format!("`{arg}` is not a ratio between 0 and 1"),
            )),
        }
    };
    let (ratio, parent_based) = match sampler.trim() {
        "always_on" => (1.0, false),
        "always_off" => (0.0, false),
        "traceidratio" => (ratio()?, false),
        "parentbased_always_on" => (1.0, true),
        "parentbased_always_off" => (0.0, true),
        "parentbased_traceidratio" => (ratio()?, true),
        other => {
            return Err(from_env(
                "OTEL_TRACES_SAMPLER",
                format!(
                    "`{other}` is not supported; use always_on, always_off, traceidratio or \
                     their parentbased_ forms"
                ),
            ));
        }
    };
    Ok(Sampling {
        ratio,
        parent_based,
    })
}

/// `service.name` out of `OTEL_RESOURCE_ATTRIBUTES` (`key=value,key=value`).
fn resource_service_name(attributes: String) -> Option<String> {
    attributes.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == "service.name" && !value.trim().is_empty()).then(|| value.trim().to_owned())
    })
}

/// A collector's base URL turned into the traces route for HTTP (`/v1/traces` appended, as
/// OpenTelemetry does with `OTEL_EXPORTER_OTLP_ENDPOINT`); gRPC takes the address as it is.
fn base_to_traces(base: &Url, protocol: OtlpProtocol) -> Url {
    if protocol == OtlpProtocol::Grpc {
        return base.clone();
    }
    let mut url = base.clone();
    let path = format!("{}/{TRACES_PATH}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

fn check_scheme(key: &str, url: &Url) -> Result<(), ConfigError> {
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(()),
        _ => Err(ConfigError::invalid(
            key,
            format!("`{url}` must be an http:// or https:// URL with a host"),
        )),
    }
}

fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "telemetry_tests.rs"]
mod tests;
