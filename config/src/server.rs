//! The `[server]` section: listener, limits, authentication, logging.

use crate::SecretRef;
use serde::Deserialize;
use std::net::SocketAddr;

/// Listener, limits, authentication and logging.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Largest request body accepted, in bytes (larger ones get 413).
    pub max_body_bytes: usize,
    /// Requests handled at once; more are shed with 429 instead of queueing.
    pub max_concurrent_requests: usize,
    /// How long a SIGTERM/Ctrl-C waits for in-flight requests before exiting anyway.
    pub shutdown_grace_secs: u64,
    /// Bearer keys accepted on `/v1/*`. Empty: no authentication (loopback development only).
    pub api_keys: Vec<SecretRef>,
    /// Bearer keys of operators, for the admin views (`/v1/deployments`). Empty: those views are
    /// open when `api_keys` is empty too (development), refused (403) otherwise.
    pub admin_api_keys: Vec<SecretRef>,
    /// How long `/ready` waits for each backend's health probe.
    pub readiness_timeout_secs: f64,
    /// Log line format.
    pub log_format: LogFormat,
    /// One `info` line per request with target `omnigate::access` (ids, route, model,
    /// deployment, status, durations, usage); `false` leaves them out.
    pub access_log: bool,
    /// Async worker threads; 0 = one per CPU the process may run on. With one, the gateway runs
    /// a single-threaded runtime (no cross-thread wakeups), the fastest setup for one core.
    pub worker_threads: usize,
    /// Reload the config when its file changes, checking this often (seconds). Unset: only on
    /// `SIGHUP` or `POST /admin/reload`.
    pub watch_config_secs: Option<f64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 32 * 1024 * 1024,
            max_concurrent_requests: 1024,
            shutdown_grace_secs: 30,
            api_keys: Vec::new(),
            admin_api_keys: Vec::new(),
            readiness_timeout_secs: 2.0,
            log_format: LogFormat::Text,
            access_log: true,
            worker_threads: 0,
            watch_config_secs: None,
        }
    }
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}
