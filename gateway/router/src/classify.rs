//! Which failures a retry can fix, and which count against a deployment's health.

use omnigate_backend::BackendError;
use std::time::Duration;

/// What the router does after a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Try another deployment; the failure counts against this one's health.
    Retry,
    /// Try another deployment; this one is busy, not broken (its health is untouched).
    RetryBusy,
    /// Try another deployment; this one asked to be left alone for the given time.
    RetryAfter(Duration),
    /// The request itself is at fault (or the answer already started): no retry, and no mark
    /// against the deployment.
    Fatal,
}

/// A failed try, as the router sees it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What to do about it.
    pub class: FailureClass,
    /// For the admin view's recent errors.
    pub summary: String,
}

/// Sorts a backend's failure. Everything the deployment (or the path to it) got wrong is
/// retried elsewhere: connection errors and resets (`Unavailable`), timeouts, 5xx and bad
/// credentials (`Upstream`), answers that are not what was asked (`BadResponse`), 429s. What the
/// client got wrong (`Rejected`, `Unsupported`) would fail anywhere, and a bug inside an
/// in-process backend (`Internal`) is not a reason to hammer the others.
pub fn classify(err: &BackendError) -> Failure {
    let class = match err {
        BackendError::Unavailable(_)
        | BackendError::Timeout(_)
        | BackendError::Upstream { .. }
        | BackendError::BadResponse(_) => FailureClass::Retry,
        BackendError::Overloaded(_) => FailureClass::RetryBusy,
        BackendError::RetryAfter { after, .. } => FailureClass::RetryAfter(*after),
        BackendError::Rejected { .. }
        | BackendError::Unsupported(_)
        | BackendError::Internal(_) => FailureClass::Fatal,
    };
    Failure {
        class,
        summary: err.to_string(),
    }
}

/// Whether an upstream refused the request because the prompt is longer than the model's
/// context (the message wording of OpenAI, vLLM, llama.cpp, TGI and Ollama).
pub fn is_context_overflow(err: &BackendError) -> bool {
    let BackendError::Rejected { message, .. } = err else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    [
        "context length",
        "context_length",
        "context window",
        "maximum context",
        "too many tokens",
        "prompt is too long",
        "exceeds the available context",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// A try that ran out of its per-try time.
pub(crate) fn timed_out(after: Duration) -> Failure {
    Failure {
        class: FailureClass::Retry,
        summary: format!("no answer within the per-try timeout of {after:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_deployment_got_wrong_is_retried_and_what_the_client_got_wrong_is_not() {
        let retried = [
            BackendError::Unavailable("refused".into()),
            BackendError::Timeout(Duration::from_secs(1)),
            BackendError::Upstream {
                status: 500,
                message: "boom".into(),
            },
            BackendError::BadResponse("not json".into()),
        ];
        for err in retried {
            assert_eq!(classify(&err).class, FailureClass::Retry, "{err}");
        }
        assert_eq!(
            classify(&BackendError::Overloaded("full".into())).class,
            FailureClass::RetryBusy
        );
        let after = BackendError::RetryAfter {
            status: 429,
            message: "slow down".into(),
            after: Duration::from_secs(2),
        };
        assert_eq!(
            classify(&after).class,
            FailureClass::RetryAfter(Duration::from_secs(2))
        );
        let rejected = BackendError::Rejected {
            status: 400,
            message: "bad".into(),
            param: None,
        };
        assert_eq!(classify(&rejected).class, FailureClass::Fatal);
    }
}
