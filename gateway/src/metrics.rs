//! Prometheus metrics: the recorder (installed once per process), the names, and `GET /metrics`.
//! Label values are static strings, so recording allocates nothing per request.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Time spent in the gateway per request, excluding the backend.
pub const OVERHEAD_SECONDS: &str = "omnigate_overhead_seconds";
/// Requests answered, by route and status class.
pub const REQUESTS_TOTAL: &str = "omnigate_requests_total";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder on first use; `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01,
                0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(OVERHEAD_SECONDS.to_owned()), &buckets)
                .ok()?
                .install_recorder()
                .ok()?;
            metrics::describe_histogram!(
                OVERHEAD_SECONDS,
                metrics::Unit::Seconds,
                "Time spent in the gateway per request, excluding the backend"
            );
            metrics::describe_counter!(
                REQUESTS_TOTAL,
                "Requests answered, by route and status class"
            );
            Some(handle)
        })
        .as_ref()
}

/// Folds recorded histogram samples into buckets now and then, so memory stays flat between
/// scrapes. Runs until the runtime stops.
pub fn spawn_upkeep() {
    if let Some(handle) = handle() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// The route label for a matched path (static, from the known routes).
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/embeddings" => "/v1/embeddings",
        "/v1/models" => "/v1/models",
        "/v1/models/{model}" => "/v1/models/{model}",
        "/v1/normalize" => "/v1/normalize",
        "/v1/audio/transcriptions" => "/v1/audio/transcriptions",
        "/v1/audio/translations" => "/v1/audio/translations",
        _ => "other",
    }
}

/// Records one answered request.
pub fn record_request(route: &'static str, status: u16, overhead_secs: f64) {
    let class = match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    };
    metrics::histogram!(OVERHEAD_SECONDS, "route" => route).record(overhead_secs);
    metrics::counter!(REQUESTS_TOTAL, "route" => route, "status" => class).increment(1);
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}
