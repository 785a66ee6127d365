//! The fleet's metrics: requests by outcome, "no responders" answers, workers online.

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
