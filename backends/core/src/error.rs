//! What can go wrong inside a backend, typed so the gateway can map each case to one HTTP status.

use crate::Task;
use std::time::Duration;

/// A backend failure. The gateway maps each variant to exactly one status code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot be reached or is not running (connection refused, DNS, not loaded).
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer within its deadline.
    #[error("backend did not answer within {0:?}")]
    Timeout(Duration),
    /// The backend is at capacity (its queue is full, or the upstream said 429).
    #[error("backend overloaded: {0}")]
    Overloaded(String),
    /// The upstream asked to be left alone for a while: a 429 or 503 with `retry-after`. The
    /// router cools that deployment down for `after` and tries another.
    #[error("upstream asked to retry after {after:?} ({status}): {message}")]
    RetryAfter {
        /// 429 or 503.
        status: u16,
        /// The upstream's explanation.
        message: String,
        /// How long it asked for.
        after: Duration,
    },
    /// The upstream refused the request as invalid (a 4xx other than 401/403/404/429); the
    /// message is the upstream's own and is safe to show the client.
    #[error("upstream rejected the request ({status}): {message}")]
    Rejected {
        /// The upstream's HTTP-like status code.
        status: u16,
        /// The upstream's explanation.
        message: String,
        /// The parameter the upstream blamed, if it said.
        param: Option<String>,
    },
    /// The upstream failed (5xx) or refused our credentials (401/403).
    #[error("upstream failed ({status}): {message}")]
    Upstream {
        /// The upstream's status code.
        status: u16,
        /// The upstream's explanation, for logs.
        message: String,
    },
    /// The upstream answered something that is not a valid response.
    #[error("invalid response from backend: {0}")]
    BadResponse(String),
    /// The request needs something this backend does not do (task, modality, media form).
    #[error("this backend does not serve {0:?}")]
    Unsupported(Task),
    /// A bug or broken invariant inside the backend.
    #[error("internal backend error: {0}")]
    Internal(String),
}
