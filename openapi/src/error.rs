//! The error envelope every failure is answered with, exactly OpenAI's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorBody,
}

/// The body of an error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable explanation.
    pub message: String,
    /// The error class, e.g. `invalid_request_error`, `authentication_error`, `rate_limit_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// A machine-readable code, e.g. `model_not_found`, `upstream_timeout`.
    pub code: Option<String>,
}
