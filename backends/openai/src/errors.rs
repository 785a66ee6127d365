//! Upstream failures mapped onto [`BackendError`]: transport errors by kind, HTTP statuses by
//! who can fix them (the client: `Rejected`; the operator or upstream: `Upstream`).

use http_body_util::BodyExt;
use omnigate_backend::BackendError;
use serde_json::Value;
use std::time::Duration;

/// Longest upstream error body read; the rest is ignored.
const MAX_ERROR_BODY: usize = 16 * 1024;

pub(crate) fn from_reqwest(err: &reqwest::Error, timeout: Duration) -> BackendError {
    if err.is_timeout() {
        BackendError::Timeout(timeout)
    } else if err.is_connect() {
        BackendError::Unavailable(format!("cannot connect to upstream: {}", root_cause(err)))
    } else if err.is_decode() || err.is_body() {
        BackendError::BadResponse(format!("upstream body broke off: {}", root_cause(err)))
    } else {
        BackendError::Unavailable(format!("upstream request failed: {}", root_cause(err)))
    }
}

/// The innermost error message (reqwest's own Display hides the useful part).
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Passes 2xx responses through; turns every other status into the matching error.
pub(crate) async fn check_status(
    response: http::Response<hyper::body::Incoming>,
) -> Result<http::Response<hyper::body::Incoming>, BackendError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(chunk) = frame.data_ref()
            && keep_capped(&mut bytes, chunk)
        {
            break;
        }
    }
    Err(status_error(status, &bytes, retry_after))
}

/// [`check_status`] for reqwest's responses (multipart uploads).
pub(crate) async fn check_reqwest_status(
    mut response: reqwest::Response,
) -> Result<reqwest::Response, BackendError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if keep_capped(&mut bytes, &chunk) {
            break;
        }
    }
    Err(status_error(status, &bytes, retry_after))
}

/// A `retry-after` of whole seconds (the form model servers send; an HTTP date is ignored).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Appends what fits under [`MAX_ERROR_BODY`]; true once full.
fn keep_capped(body: &mut Vec<u8>, chunk: &[u8]) -> bool {
    let room = MAX_ERROR_BODY.saturating_sub(body.len());
    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    body.len() >= MAX_ERROR_BODY
}

/// The error for a non-2xx answer with (the start of) its body.
fn status_error(
    status: http::StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> BackendError {
    let (message, param) = parse_error_body(body);
    let message = message.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("upstream error")
            .to_owned()
    });
    let code = status.as_u16();
    match (code, retry_after) {
        (429 | 503, Some(after)) => BackendError::RetryAfter {
            status: code,
            message,
            after,
        },
        _ => status_error_without_hint(code, message, param),
    }
}

fn status_error_without_hint(code: u16, message: String, param: Option<String>) -> BackendError {
    match code {
        429 => BackendError::Overloaded(message),
        503 => BackendError::Unavailable(message),
        408 | 504 => BackendError::Upstream {
            status: code,
            message,
        },
        // Our credentials or our model mapping are wrong: nothing the client can fix.
        401 | 403 | 404 => BackendError::Upstream {
            status: code,
            message,
        },
        400..=499 => BackendError::Rejected {
            status: code,
            message,
            param,
        },
        _ => BackendError::Upstream {
            status: code,
            message,
        },
    }
}

/// Reads `{"error": {"message", "param"}}` (OpenAI), `{"message"}` (vLLM), `{"error": "..."}`
/// (Ollama, TGI) or `{"detail": "..."}` (FastAPI servers); falls back to the raw text.
pub(crate) fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = || {
        let text = String::from_utf8_lossy(body).trim().to_owned();
        (!text.is_empty()).then_some(text)
    };
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return (text(), None);
    };
    let str_at = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(error) = json.get("error") {
        if let Some(message) = error.as_str() {
            return (Some(message.to_owned()), None);
        }
        return (
            str_at(error, "message").or_else(text),
            str_at(error, "param"),
        );
    }
    let message = str_at(&json, "message").or_else(|| str_at(&json, "detail"));
    (message.or_else(text), str_at(&json, "param"))
}

#[cfg(test)]
mod tests {
    use super::parse_error_body;

    #[test]
    fn error_bodies_of_common_servers_are_understood() {
        let openai = br#"{"error":{"message":"bad temp","type":"invalid_request_error","param":"temperature"}}"#;
        assert_eq!(
            parse_error_body(openai),
            (Some("bad temp".into()), Some("temperature".into()))
        );
        let vllm =
            br#"{"object":"error","message":"too long","type":"BadRequestError","code":400}"#;
        assert_eq!(parse_error_body(vllm).0.as_deref(), Some("too long"));
        let ollama = br#"{"error":"model not found"}"#;
        assert_eq!(
            parse_error_body(ollama).0.as_deref(),
            Some("model not found")
        );
        let fastapi = br#"{"detail":"Not Found"}"#;
        assert_eq!(parse_error_body(fastapi).0.as_deref(), Some("Not Found"));
        assert_eq!(
            parse_error_body(b"plain text").0.as_deref(),
            Some("plain text")
        );
        assert_eq!(parse_error_body(b"").0, None);
    }
}
