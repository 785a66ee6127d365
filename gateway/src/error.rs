//! The one HTTP error type. Every failure a client can see is an [`ApiError`], answered in the
//! OpenAI envelope `{"error": {"message", "type", "param", "code"}}` with exactly one status per
//! variant (an exhaustive match, no wildcard). The inner layers' own errors (the backends', the
//! media pass's, the registry's) become an `ApiError` here and nowhere else. Details of
//! server-side failures go to the log (once, by `layers/error_log.rs`), never to the client.

use crate::media::{MediaProblem, NormalizeError};
use crate::registry::RouteError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnigate_backend::BackendError;
use omnigate_openapi::{ErrorBody, ErrorResponse};
use std::sync::Arc;
use std::time::Duration;

/// A failure answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a field is invalid (400).
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
        /// The field at fault.
        param: Option<String>,
        /// Machine-readable code.
        code: &'static str,
    },
    /// No or wrong API key (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A valid key that may not do this (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A known key that may not be used (disabled, expired) (401).
    #[error("{message}")]
    KeyRejected {
        /// Why.
        message: String,
        /// `key_disabled` or `key_expired`.
        code: &'static str,
    },
    /// A key that may not call this model (403).
    #[error("This API key may not call the model `{0}`.")]
    ModelNotAllowed(String),
    /// A key's or team's limit or budget (429), with OpenAI's `x-ratelimit-*` headers.
    #[error("{message}")]
    KeyLimited {
        /// Which limit, and when to come back.
        message: String,
        /// `rate_limit_exceeded`, or `insufficient_quota` for a spent budget.
        code: &'static str,
        /// When to try again; `None` when waiting will not help.
        retry_after: Option<Duration>,
        /// `x-ratelimit-*` headers.
        headers: Vec<(axum::http::HeaderName, HeaderValue)>,
    },
    /// The model is not served here (404).
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    /// No such thing (a key, say) (404).
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with how the thing is declared (409).
    #[error("{0}")]
    Conflict(String),
    /// No such route (404).
    #[error("Unknown path: {0}")]
    RouteNotFound(String),
    /// The route exists but not with this method (405).
    #[error("Method not allowed on this path.")]
    MethodNotAllowed,
    /// The body is over the server's limit (413).
    #[error("Request body is larger than the limit of {limit} bytes.")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request is well formed but cannot be processed by this model (422).
    #[error("{message}")]
    Unprocessable {
        /// What cannot be done.
        message: String,
        /// The field at fault.
        param: Option<String>,
    },
    /// A media item was refused: invalid (400), too large (413), an unsupported format (415) or
    /// undecodable (422).
    #[error("{message}")]
    Media {
        /// Which of those.
        problem: MediaProblem,
        /// What is wrong with it.
        message: String,
        /// Where the item is, e.g. `messages[0].content[1]`.
        param: String,
        /// Machine-readable code.
        code: &'static str,
    },
    /// Too many requests in flight here or upstream (429).
    #[error("{0}")]
    RateLimited(String),
    /// Come back later, and when: too many requests (429) or no deployment can take it now
    /// (503), answered with `retry-after`.
    #[error("{message}")]
    RetryLater {
        /// 429 or 503.
        status: StatusCode,
        /// What the client is told.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The upstream refused the request as invalid; its status (4xx) and message are relayed.
    #[error("{message}")]
    UpstreamRejected {
        /// The upstream's 4xx status.
        status: StatusCode,
        /// The upstream's message.
        message: String,
        /// The upstream's param.
        param: Option<String>,
    },
    /// A bug or broken invariant here (500).
    #[error("internal error: {0}")]
    Internal(String),
    /// The upstream failed or answered nonsense (502).
    #[error("bad gateway: {0}")]
    BadGateway(String),
    /// No backend can take the request (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The upstream did not answer in time (504).
    #[error("upstream timed out after {0:?}")]
    GatewayTimeout(Duration),
}

impl ApiError {
    /// A 400 for a bad field.
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
            code: "invalid_request",
        }
    }

    /// The HTTP status: one per variant.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::ModelNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::KeyRejected { .. } => StatusCode::UNAUTHORIZED,
            Self::KeyLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ModelNotFound(_) | Self::RouteNotFound(_) | Self::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Media { problem, .. } => match problem {
                MediaProblem::Invalid => StatusCode::BAD_REQUEST,
                MediaProblem::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                MediaProblem::Unsupported => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                MediaProblem::Undecodable => StatusCode::UNPROCESSABLE_ENTITY,
            },
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::RetryLater { status, .. } | Self::UpstreamRejected { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// OpenAI's error `type`.
    fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. }
            | Self::PayloadTooLarge { .. }
            | Self::UnsupportedMediaType(_)
            | Self::Unprocessable { .. }
            | Self::UpstreamRejected { .. }
            | Self::Media { .. }
            | Self::MethodNotAllowed => "invalid_request_error",
            Self::Unauthorized(_) | Self::KeyRejected { .. } => "authentication_error",
            Self::Forbidden(_) | Self::ModelNotAllowed(_) => "permission_error",
            // OpenAI's own type for a spent quota, so SDK users can tell it from a rate limit.
            Self::KeyLimited { code, .. } if *code == "insufficient_quota" => "insufficient_quota",
            Self::KeyLimited { .. } => "rate_limit_error",
            Self::ModelNotFound(_) | Self::RouteNotFound(_) | Self::NotFound(_) => {
                "not_found_error"
            }
            Self::Conflict(_) => "invalid_request_error",
            Self::RateLimited(_) => "rate_limit_error",
            Self::RetryLater { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                "rate_limit_error"
            }
            Self::RetryLater { .. } => "service_unavailable_error",
            Self::Internal(_) | Self::BadGateway(_) => "api_error",
            Self::Unavailable(_) | Self::GatewayTimeout(_) => "service_unavailable_error",
        }
    }

    /// Machine-readable `code`.
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest { code, .. } | Self::Media { code, .. } => code,
            Self::Unauthorized(_) => "invalid_api_key",
            Self::Forbidden(_) => "forbidden",
            Self::KeyRejected { code, .. } | Self::KeyLimited { code, .. } => code,
            Self::ModelNotAllowed(_) => "model_not_allowed",
            Self::ModelNotFound(_) => "model_not_found",
            Self::RouteNotFound(_) => "unknown_url",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "request_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unprocessable { .. } => "unprocessable_request",
            Self::RateLimited(_) => "rate_limit_exceeded",
            Self::RetryLater { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                "rate_limit_exceeded"
            }
            Self::RetryLater { .. } => "service_unavailable",
            Self::UpstreamRejected { .. } => "upstream_rejected",
            Self::Internal(_) => "internal_error",
            Self::BadGateway(_) => "bad_gateway",
            Self::Unavailable(_) => "service_unavailable",
            Self::GatewayTimeout(_) => "upstream_timeout",
        }
    }

    fn param(&self) -> Option<String> {
        match self {
            Self::InvalidRequest { param, .. }
            | Self::Unprocessable { param, .. }
            | Self::UpstreamRejected { param, .. } => param.clone(),
            Self::Media { param, .. } => Some(param.clone()),
            Self::ModelNotFound(_) | Self::ModelNotAllowed(_) => Some("model".to_owned()),
            _ => None,
        }
    }

    /// What the client is told. Server-side failures get a fixed sentence; their details are
    /// logged instead, so no internal address or upstream body leaks out.
    fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "The server had an internal error.".to_owned(),
            Self::BadGateway(_) => {
                "The upstream model server failed to answer properly.".to_owned()
            }
            Self::Unavailable(_) => {
                "No backend is available for this model right now; retry later.".to_owned()
            }
            Self::GatewayTimeout(after) => format!(
                "The upstream model server did not answer within {:.1} s.",
                after.as_secs_f64()
            ),
            other => other.to_string(),
        }
    }

    /// The envelope body.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorBody {
                message: self.public_message(),
                kind: self.kind().to_owned(),
                param: self.param(),
                code: Some(self.code().to_owned()),
            },
        }
    }
}

/// What went wrong, in full, carried on an error response for `layers/error_log.rs` to log once
/// (the body the client gets holds only the public message).
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub Arc<str>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        response
            .extensions_mut()
            .insert(ErrorDetail(Arc::from(self.to_string())));
        if let Self::RetryLater { retry_after, .. } = &self {
            // Whole seconds, rounded up: `retry-after: 0` would invite an immediate retry.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if let Self::KeyLimited {
            retry_after,
            headers,
            ..
        } = &self
        {
            let out = response.headers_mut();
            for (name, value) in headers {
                out.insert(name.clone(), value.clone());
            }
            if let Some(after) = retry_after {
                let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
                out.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
        }
        if matches!(self, Self::Unauthorized(_) | Self::KeyRejected { .. }) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<BackendError> for ApiError {
    fn from(err: BackendError) -> Self {
        match err {
            BackendError::Unavailable(detail) => Self::Unavailable(detail),
            BackendError::Timeout(after) => Self::GatewayTimeout(after),
            BackendError::Overloaded(detail) => {
                Self::RateLimited(format!("The model is overloaded; retry later. ({detail})"))
            }
            BackendError::RetryAfter {
                status: 429, after, ..
            } => Self::RetryLater {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "The model is overloaded; retry later.".to_owned(),
                retry_after: after,
            },
            BackendError::RetryAfter { after, .. } => Self::RetryLater {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "No backend is available for this model right now; retry later."
                    .to_owned(),
                retry_after: after,
            },
            BackendError::Rejected {
                status,
                message,
                param,
            } => Self::UpstreamRejected {
                status: StatusCode::from_u16(status)
                    .ok()
                    .filter(StatusCode::is_client_error)
                    .unwrap_or(StatusCode::BAD_REQUEST),
                message,
                param,
            },
            BackendError::Upstream { status, message } => {
                Self::BadGateway(format!("upstream status {status}: {message}"))
            }
            BackendError::BadResponse(detail) => Self::BadGateway(detail),
            BackendError::Unsupported(task) => Self::Unprocessable {
                message: format!("This model's backend does not serve {task:?}."),
                param: Some("model".to_owned()),
            },
            BackendError::Internal(detail) => Self::Internal(detail),
        }
    }
}

impl From<NormalizeError> for ApiError {
    fn from(err: NormalizeError) -> Self {
        match err {
            NormalizeError::InvalidRequest {
                message,
                param,
                code,
            } => Self::InvalidRequest {
                message,
                param,
                code,
            },
            NormalizeError::Item {
                problem,
                message,
                param,
                code,
            } => Self::Media {
                problem,
                message,
                param,
                code,
            },
            NormalizeError::Busy(message) => Self::RateLimited(message),
            NormalizeError::Upstream(detail) => Self::BadGateway(detail),
            NormalizeError::Internal(detail) => Self::Internal(detail),
        }
    }
}

impl From<RouteError> for ApiError {
    fn from(err: RouteError) -> Self {
        match err {
            RouteError::ModelNotFound(name) => Self::ModelNotFound(name),
            RouteError::TaskNotServed { .. } => Self::Unprocessable {
                message: err.to_string(),
                param: Some("model".to_owned()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status each variant must answer, written out again by hand: the match has no
    /// wildcard, so a new variant does not compile until its status is stated here too.
    fn expected_status(err: &ApiError) -> u16 {
        match err {
            ApiError::InvalidRequest { .. } => 400,
            ApiError::Unauthorized(_) | ApiError::KeyRejected { .. } => 401,
            ApiError::Forbidden(_) | ApiError::ModelNotAllowed(_) => 403,
            ApiError::ModelNotFound(_) | ApiError::RouteNotFound(_) | ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::KeyLimited { .. } => 429,
            ApiError::MethodNotAllowed => 405,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Media { problem, .. } => match problem {
                MediaProblem::Invalid => 400,
                MediaProblem::TooLarge => 413,
                MediaProblem::Unsupported => 415,
                MediaProblem::Undecodable => 422,
            },
            ApiError::RateLimited(_) => 429,
            ApiError::RetryLater { status, .. } | ApiError::UpstreamRejected { status, .. } => {
                status.as_u16()
            }
            ApiError::Internal(_) => 500,
            ApiError::BadGateway(_) => 502,
            ApiError::Unavailable(_) => 503,
            ApiError::GatewayTimeout(_) => 504,
        }
    }

    fn media(problem: MediaProblem) -> ApiError {
        ApiError::Media {
            problem,
            message: "messages[0].content[0]: bad".into(),
            param: "messages[0].content[0]".into(),
            code: "media_corrupt",
        }
    }

    #[test]
    fn every_variant_has_its_status_and_envelope() {
        let cases = [
            (ApiError::invalid("bad", Some("messages")), 400),
            (ApiError::Unauthorized("no key"), 401),
            (ApiError::Forbidden("not an admin"), 403),
            (
                ApiError::KeyRejected {
                    message: "off".into(),
                    code: "key_disabled",
                },
                401,
            ),
            (ApiError::ModelNotAllowed("m".into()), 403),
            (ApiError::NotFound("no key".into()), 404),
            (ApiError::Conflict("declared".into()), 409),
            (
                ApiError::KeyLimited {
                    message: "slow down".into(),
                    code: "rate_limit_exceeded",
                    retry_after: Some(Duration::from_millis(1500)),
                    headers: Vec::new(),
                },
                429,
            ),
            (ApiError::ModelNotFound("m".into()), 404),
            (ApiError::RouteNotFound("/x".into()), 404),
            (ApiError::MethodNotAllowed, 405),
            (ApiError::PayloadTooLarge { limit: 1 }, 413),
            (ApiError::UnsupportedMediaType("json".into()), 415),
            (
                ApiError::Unprocessable {
                    message: "no".into(),
                    param: None,
                },
                422,
            ),
            (media(MediaProblem::Invalid), 400),
            (media(MediaProblem::TooLarge), 413),
            (media(MediaProblem::Unsupported), 415),
            (media(MediaProblem::Undecodable), 422),
            (ApiError::RateLimited("busy".into()), 429),
            (
                ApiError::RetryLater {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    message: "busy".into(),
                    retry_after: Duration::from_millis(1500),
                },
                429,
            ),
            (
                ApiError::RetryLater {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "all down".into(),
                    retry_after: Duration::from_secs(2),
                },
                503,
            ),
            (
                ApiError::UpstreamRejected {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: "context too long".into(),
                    param: None,
                },
                413,
            ),
            (ApiError::Internal("bug".into()), 500),
            (ApiError::BadGateway("x".into()), 502),
            (ApiError::Unavailable("x".into()), 503),
            (ApiError::GatewayTimeout(Duration::from_secs(1)), 504),
        ];
        let mut variants = std::collections::HashSet::new();
        for (err, status) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert_eq!(expected_status(&err), status, "{err:?}");
            variants.insert(std::mem::discriminant(&err));
            let body = err.body().error;
            assert!(!body.message.is_empty());
            assert!(!body.kind.is_empty());
            assert!(body.code.is_some());
            let response = err.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert!(
                response.extensions().get::<ErrorDetail>().is_some(),
                "the log layer needs the detail"
            );
        }
        // At least one case for each of the enum's 22 variants.
        assert_eq!(variants.len(), 22);
    }

    #[test]
    fn the_media_pass_and_the_registry_map_to_their_statuses() {
        let cases: [(ApiError, u16); 7] = [
            (
                NormalizeError::invalid("no messages", Some("messages")).into(),
                400,
            ),
            (NormalizeError::Busy("decoders busy".into()).into(), 429),
            (NormalizeError::Upstream("host failed".into()).into(), 502),
            (NormalizeError::Internal("bug".into()).into(), 500),
            (
                NormalizeError::Item {
                    problem: MediaProblem::TooLarge,
                    message: "big".into(),
                    param: "file".into(),
                    code: "media_too_large",
                }
                .into(),
                413,
            ),
            (RouteError::ModelNotFound("m".into()).into(), 404),
            (
                RouteError::TaskNotServed {
                    model: "m".into(),
                    task: omnigate_backend::Task::Embeddings,
                }
                .into(),
                422,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
        }
    }

    #[test]
    fn retry_later_says_when_in_whole_seconds() {
        let response = ApiError::RetryLater {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "busy".into(),
            retry_after: Duration::from_millis(1500),
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let upstream = ApiError::from(BackendError::RetryAfter {
            status: 503,
            message: "maintenance at 10.0.0.7".into(),
            after: Duration::from_secs(7),
        });
        assert_eq!(upstream.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!upstream.body().error.message.contains("10.0.0.7"));
    }

    #[test]
    fn server_side_details_are_not_shown_to_clients() {
        let err = ApiError::from(BackendError::Upstream {
            status: 500,
            message: "stack trace at 10.0.0.7".into(),
        });
        assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
        assert!(!err.body().error.message.contains("10.0.0.7"));
    }

    #[test]
    fn upstream_rejections_keep_their_client_status() {
        let err = ApiError::from(BackendError::Rejected {
            status: 413,
            message: "context too long".into(),
            param: Some("messages".into()),
        });
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(err.body().error.param.as_deref(), Some("messages"));
        let weird = ApiError::from(BackendError::Rejected {
            status: 200,
            message: "?".into(),
            param: None,
        });
        assert_eq!(weird.status(), StatusCode::BAD_REQUEST);
    }
}
