//! The fleet's metrics: requests by outcome, "no responders" answers, tries lost with their
//! worker, workers online, and each worker's answered and in-flight requests.

use omnigate_backend::BackendError;

/// Counts one finished request (one attempt) for `model`.
pub(crate) fn request(model: &str, outcome: &'static str) {
    metrics::counter!(
        "omnigate_fleet_requests_total",
        "model" => model.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// Counts a request that found no worker subscribed for `model`.
pub(crate) fn no_responders(model: &str) {
    metrics::counter!("omnigate_fleet_no_responders_total", "model" => model.to_owned())
        .increment(1);
}

/// Counts a try whose worker took the request and then fell silent past the per-try timeout
/// (it most likely vanished; the router retries the request elsewhere).
pub(crate) fn worker_lost(model: &str) {
    metrics::counter!("omnigate_fleet_worker_lost_total", "model" => model.to_owned()).increment(1);
}

/// Sets a worker's load as its heartbeat reports it: requests answered since it started, and
/// held now.
pub(crate) fn worker(id: &str, served: u64, in_flight: usize) {
    metrics::gauge!("omnigate_fleet_worker_served", "worker" => id.to_owned()).set(served as f64);
    metrics::gauge!("omnigate_fleet_worker_in_flight", "worker" => id.to_owned())
        .set(in_flight as f64);
}

/// Sets how many workers of the fleet under `prefix` sent a heartbeat recently.
pub(crate) fn workers_online(prefix: &str, count: usize) {
    metrics::gauge!("omnigate_fleet_workers_online", "prefix" => prefix.to_owned())
        .set(count as f64);
}

/// The `outcome` label of a result.
pub(crate) fn outcome<T>(result: &Result<T, BackendError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(BackendError::Unavailable(_)) => "unavailable",
        Err(BackendError::Timeout(_)) => "timeout",
        Err(BackendError::Overloaded(_)) => "overloaded",
        Err(BackendError::RetryAfter { .. }) => "retry_after",
        Err(BackendError::Rejected { .. }) => "rejected",
        Err(BackendError::Upstream { .. }) => "upstream",
        Err(BackendError::BadResponse(_)) => "bad_response",
        Err(BackendError::Unsupported(_)) => "unsupported",
        Err(BackendError::Internal(_)) => "internal",
    }
}
