//! The worker fleet over NATS: `kind = "fleet"` deployments (the gateway's side: send a model's
//! requests to whichever worker serves it) and the `[worker]` section (a worker's side: which
//! NATS to dial out to, and how it advertises itself). Both authenticate to NATS the same way.

use crate::ConfigError;
use crate::secret::SecretRef;
use serde::Deserialize;
use std::path::PathBuf;

/// How to reach NATS and prove who we are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// `nats://host:port` (several, comma-separated, for a cluster); `tls://` for TLS.
    pub nats_url: String,
    /// Subjects start with this: requests go to `{prefix}.req.{model}`.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// User name (with `password`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password (`env::NAME`).
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// A token (`env::NAME`).
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// A `.creds` file (JWT and NKey seed, as `nsc` writes them).
    #[serde(default)]
    pub creds_file: Option<PathBuf>,
    /// An NKey seed (`env::NAME`).
    #[serde(default)]
    pub nkey_seed: Option<SecretRef>,
    /// Refuse a connection that is not TLS.
    #[serde(default)]
    pub tls_required: bool,
    /// A CA certificate (PEM) to trust for the server's TLS certificate.
    #[serde(default)]
    pub root_certificate: Option<PathBuf>,
    /// Deadline for connecting.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: f64,
}

fn default_prefix() -> String {
    "omnigate".to_owned()
}

fn default_connect_timeout_secs() -> f64 {
    5.0
}

/// A model served by a fleet of workers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetDeployment {
    /// Where the fleet is.
    #[serde(flatten)]
    pub nats: NatsConfig,
    /// The name workers serve the model under; defaults to the public name.
    #[serde(default)]
    pub model: Option<String>,
    /// No answer (or, for a stream, no next event) from the worker within this: the try fails
    /// and the request goes to another worker or deployment.
    #[serde(default = "default_per_try_timeout_secs")]
    pub timeout_secs: f64,
    /// What `x-omnigate-deployment` and the deployments view call it.
    #[serde(default)]
    pub name: Option<String>,
    /// Share of requests (see `DeploymentConfig::weight`).
    #[serde(default = "crate::model::default_weight")]
    pub weight: u32,
    /// Most requests in flight to it at once.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Check actively this often (seconds) that some worker serves it.
    #[serde(default)]
    pub health_interval_secs: Option<f64>,
}

fn default_per_try_timeout_secs() -> f64 {
    30.0
}

/// A worker's own settings (`omnigate worker`); the models it serves are the config's
/// `[models]`, each served by its first deployment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Where the fleet is.
    #[serde(flatten)]
    pub nats: NatsConfig,
    /// This worker's id in heartbeats and `GET /v1/fleet`; default: host name and process id.
    #[serde(default)]
    pub id: Option<String>,
    /// What it runs on, as advertised (`cpu`, `cuda:0`); default: its first embedded model's
    /// device, else `cpu`.
    #[serde(default)]
    pub device: Option<String>,
    /// Requests it works on at once.
    #[serde(default = "default_worker_in_flight")]
    pub max_in_flight: usize,
    /// How often it says it is alive.
    #[serde(default = "default_heartbeat_secs")]
    pub heartbeat_interval_secs: f64,
}

fn default_worker_in_flight() -> usize {
    8
}

fn default_heartbeat_secs() -> f64 {
    2.0
}

impl NatsConfig {
    /// Checks the settings; `key` names the table in errors.
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let urls_ok = self
            .nats_url
            .split(',')
            .all(|url| !url.trim().is_empty() && !url.trim().contains(char::is_whitespace));
        if !urls_ok {
            return Err(ConfigError::invalid(
                format!("{key}.nats_url"),
                "must be a NATS URL, e.g. nats://127.0.0.1:4222",
            ));
        }
        let token_ok = |token: &str| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let prefix_ok = self.subject_prefix.split('.').all(token_ok);
        if !prefix_ok {
            return Err(ConfigError::invalid(
                format!("{key}.subject_prefix"),
                "must be NATS subject tokens of letters, digits, `-` and `_`, joined by `.`",
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err(ConfigError::invalid(
                format!("{key}.user"),
                "`user` and `password` go together",
            ));
        }
        let methods = [
            self.user.is_some(),
            self.token.is_some(),
            self.creds_file.is_some(),
            self.nkey_seed.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(ConfigError::invalid(
                key,
                "name one of user/password, token, creds_file and nkey_seed",
            ));
        }
        for (field, secret) in [
            ("password", &self.password),
            ("token", &self.token),
            ("nkey_seed", &self.nkey_seed),
        ] {
            if let Some(secret) = secret {
                secret.resolve(&format!("{key}.{field}"))?;
            }
        }
        if !(self.connect_timeout_secs.is_finite() && self.connect_timeout_secs > 0.0) {
            return Err(ConfigError::invalid(
                format!("{key}.connect_timeout_secs"),
                "must be a positive number of seconds",
            ));
        }
        Ok(())
    }
}

impl WorkerConfig {
    /// Defaults for a worker dialing `nats_url` (what `omnigate worker --nats URL` uses when the
    /// config has no `[worker]` table).
    pub fn dialing(nats_url: &str) -> Self {
        Self {
            nats: NatsConfig {
                nats_url: nats_url.to_owned(),
                subject_prefix: default_prefix(),
                user: None,
                password: None,
                token: None,
                creds_file: None,
                nkey_seed: None,
                tls_required: false,
                root_certificate: None,
                connect_timeout_secs: default_connect_timeout_secs(),
            },
            id: None,
            device: None,
            max_in_flight: default_worker_in_flight(),
            heartbeat_interval_secs: default_heartbeat_secs(),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.nats.validate("worker")?;
        if self.max_in_flight == 0 {
            return Err(ConfigError::invalid(
                "worker.max_in_flight",
                "must be at least 1",
            ));
        }
        if !(self.heartbeat_interval_secs.is_finite() && self.heartbeat_interval_secs > 0.0) {
            return Err(ConfigError::invalid(
                "worker.heartbeat_interval_secs",
                "must be a positive number of seconds",
            ));
        }
        Ok(())
    }
}
