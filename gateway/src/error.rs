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
    /// A reload read a config that does not load; the running one keeps serving (400).
    #[error("The config was not reloaded: {0}. The running config keeps serving.")]
    InvalidConfig(String),
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
            Self::InvalidConfig(_) => StatusCode::BAD_REQUEST,
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
            Self::Conflict(_) | Self::InvalidConfig(_) => "invalid_request_error",
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
    pub fn code(&self) -> &'static str {
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
            Self::InvalidConfig(_) => "invalid_config",
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

/// The `code` of an error response, for the access log and the error metrics
/// (`layers/access.rs`).
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        let extensions = response.extensions_mut();
        extensions.insert(ErrorDetail(Arc::from(self.to_string())));
        extensions.insert(ErrorCode(self.code()));
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
mod tests;
