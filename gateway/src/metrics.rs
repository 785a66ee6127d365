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

/// The routes with a series of their own, by label; `route_of` maps anything else to
/// `other`, and a request that matched no route is `unmatched`.
const ROUTES: [&str; 9] = [
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v1/models/{model}",
    "/v1/normalize",
    "/v1/audio/transcriptions",
    "/v1/audio/translations",
    "other",
    "unmatched",
];
const STATUS_CLASSES: [&str; 4] = ["2xx", "4xx", "5xx", "other"];

/// A route's metric series (an index into the known routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(usize);

impl Route {
    /// A request that matched no route.
    pub const UNMATCHED: Self = Self(ROUTES.len() - 1);
}

/// The series for a matched path (`other` for routes without their own).
pub fn route_of(matched_path: &str) -> Route {
    let other = ROUTES.len() - 2;
    Route(
        ROUTES[..other]
            .iter()
            .position(|r| *r == matched_path)
            .unwrap_or(other),
    )
}

/// One route's handles, each registered the first time it is used (so `/metrics` lists only
/// series that happened): recording through a handle is an atomic update, where the
/// `histogram!`/`counter!` macros hash the name and labels on every request.
struct RouteSeries {
    overhead: OnceLock<metrics::Histogram>,
    requests: [OnceLock<metrics::Counter>; STATUS_CLASSES.len()],
}

static SERIES: [RouteSeries; ROUTES.len()] = [const {
    RouteSeries {
        overhead: OnceLock::new(),
        requests: [const { OnceLock::new() }; STATUS_CLASSES.len()],
    }
}; ROUTES.len()];

/// Records one answered request.
pub fn record_request(route: Route, status: u16, overhead_secs: f64) {
    let class = match status {
        200..=299 => 0,
        400..=499 => 1,
        500..=599 => 2,
        _ => 3,
    };
    let (Some(series), Some(&label)) = (SERIES.get(route.0), ROUTES.get(route.0)) else {
        return;
    };
    // A handle taken before the recorder exists would record nowhere.
    if handle().is_none() {
        return;
    }
    series
        .overhead
        .get_or_init(|| metrics::histogram!(OVERHEAD_SECONDS, "route" => label))
        .record(overhead_secs);
    if let (Some(requests), Some(&status)) = (series.requests.get(class), STATUS_CLASSES.get(class))
    {
        requests
            .get_or_init(|| metrics::counter!(REQUESTS_TOTAL, "route" => label, "status" => status))
            .increment(1);
    }
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}
