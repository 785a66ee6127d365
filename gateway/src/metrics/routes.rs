//! The per-route series of `/v1`: requests by status class and the gateway's own time, one
//! handle per (route, class) registered on first use.

use super::names::{OVERHEAD_SECONDS, REQUESTS_TOTAL};
use super::recorder::handle;
use std::sync::OnceLock;

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

    /// Its `route` label.
    pub fn label(self) -> &'static str {
        ROUTES.get(self.0).copied().unwrap_or("other")
    }
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
