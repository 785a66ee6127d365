//! v2 server failures mapped onto [`BackendError`], by who can fix them: the client (the server
//! refused its tensors: `Rejected`), the operator or the server (`Upstream`), nobody right now
//! (`Unavailable`, `Timeout`, `Overloaded`).

use omnigate_backend::BackendError;
use std::time::Duration;

/// Longest error text kept from a server.
const MAX_MESSAGE: usize = 2048;

/// A gRPC status as a backend error.
pub(crate) fn from_status(status: &tonic::Status, timeout: Duration) -> BackendError {
    use tonic::Code;
    let message = capped(status.message());
    match status.code() {
        Code::Unavailable => BackendError::Unavailable(format!("v2 server unavailable: {message}")),
        Code::DeadlineExceeded => BackendError::Timeout(timeout),
        Code::ResourceExhausted => BackendError::Overloaded(message),
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            BackendError::Rejected {
                status: 400,
                message,
                param: None,
            }
        }
        Code::NotFound => BackendError::Upstream {
            status: 404,
            message,
        },
        Code::Unauthenticated => BackendError::Upstream {
            status: 401,
            message,
        },
        Code::PermissionDenied => BackendError::Upstream {
            status: 403,
            message,
        },
        Code::Unimplemented => BackendError::Upstream {
            status: 501,
            message,
        },
        // tonic reports a refused or broken connection as `Unknown` with a transport error
        // inside; the source chain says which.
        Code::Unknown if is_transport(status) => {
            BackendError::Unavailable(format!("cannot reach the v2 server: {message}"))
        }
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::AlreadyExists
        | Code::Aborted
        | Code::Internal
        | Code::DataLoss => BackendError::Upstream {
            status: 500,
            message,
        },
    }
}

fn is_transport(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if err.is::<tonic::transport::Error>() || err.is::<std::io::Error>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// A reqwest failure as a backend error.
pub(crate) fn from_reqwest(err: &reqwest::Error, timeout: Duration) -> BackendError {
    if err.is_timeout() {
        BackendError::Timeout(timeout)
    } else if err.is_connect() {
        BackendError::Unavailable(format!("cannot reach the v2 server: {}", root_cause(err)))
    } else if err.is_decode() || err.is_body() {
        BackendError::BadResponse(format!(
            "the v2 server's answer broke off: {}",
            root_cause(err)
        ))
    } else {
        BackendError::Unavailable(format!("v2 request failed: {}", root_cause(err)))
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    capped(&current.to_string())
}

/// A non-2xx REST answer as a backend error; `body` is its start. v2 servers write
/// `{"error": "..."}`.
pub(crate) fn from_http(status: u16, body: &[u8]) -> BackendError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| match &v["error"] {
            serde_json::Value::String(text) => Some(text.clone()),
            serde_json::Value::Object(inner) => inner
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned),
            _ => None,
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let message = capped(&message);
    match status {
        400 | 422 => BackendError::Rejected {
            status: 400,
            message,
            param: None,
        },
        429 => BackendError::Overloaded(message),
        503 => BackendError::Unavailable(message),
        _ => BackendError::Upstream { status, message },
    }
}

fn capped(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_who_can_fix_them() {
        let t = Duration::from_secs(1);
        let status = |code, msg: &str| from_status(&tonic::Status::new(code, msg), t);
        assert!(matches!(
            status(tonic::Code::InvalidArgument, "bad shape"),
            BackendError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            status(tonic::Code::Unavailable, "down"),
            BackendError::Unavailable(_)
        ));
        assert!(matches!(
            status(tonic::Code::DeadlineExceeded, ""),
            BackendError::Timeout(_)
        ));
        assert!(matches!(
            status(tonic::Code::Internal, "boom"),
            BackendError::Upstream { status: 500, .. }
        ));
        let err = from_http(400, br#"{"error":"Input `x` is wrong"}"#);
        assert!(
            matches!(&err, BackendError::Rejected { message, .. } if message == "Input `x` is wrong"),
            "{err:?}"
        );
        assert!(matches!(
            from_http(404, b"not json"),
            BackendError::Upstream { status: 404, .. }
        ));
        assert!(matches!(from_http(503, b""), BackendError::Unavailable(_)));
    }
}
