//! The JSON body extractor: every way a body can be wrong becomes an [`ApiError`] in the OpenAI
//! envelope (axum's own rejections are plain text) — 415 for a non-JSON content type, 413 over
//! the body limit, 400 for malformed JSON or a field of the wrong shape, naming the field.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

/// A JSON body parsed into `T`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(&request) {
            return Err(ApiError::UnsupportedMediaType(
                "Expected a request with `Content-Type: application/json`.".to_owned(),
            ));
        }
        let limit = state.settings().max_body_bytes;
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection {
                    BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                        ApiError::PayloadTooLarge { limit }
                    }
                    other => ApiError::invalid(
                        format!("Could not read the request body: {}", other.body_text()),
                        None,
                    ),
                })?;
        // The request's `parse` span: a debug span, never created while traces are off. Only
        // the parse, not the body's read: a span held across an await would grow this future,
        // which every request moves through each layer. Nothing opens under it, so it is only
        // held, not entered.
        let span = tracing::debug_span!("parse", "http.request.body.size" = bytes.len() as i64);
        let parsed = parse(&bytes);
        drop(span);
        parsed.map(ApiJson)
    }
}

fn is_json(request: &Request) -> bool {
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses JSON, reporting the path of a bad field (`messages[0].content`) as `param`.
///
/// The fast path is plain serde_json; only a body that fails is parsed again with path tracking,
/// so valid requests never pay for it.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) => Err(describe_failure::<T>(bytes)),
    }
}

fn describe_failure<T: DeserializeOwned>(bytes: &[u8]) -> ApiError {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let err = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(_) => match deserializer.end() {
            Ok(()) => return ApiError::invalid("Invalid request body.", None),
            Err(err) => {
                return ApiError::InvalidRequest {
                    message: format!("The request body has trailing characters: {err}"),
                    param: None,
                    code: "invalid_json",
                };
            }
        },
        Err(err) => err,
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::InvalidRequest {
            message: format!("The request body is not valid JSON: {inner}"),
            param: None,
            code: "invalid_json",
        };
    }
    let param = (path != ".").then_some(path);
    let message = match &param {
        Some(path) => format!("Invalid value for `{path}`: {inner}"),
        None => format!("Invalid request body: {inner}"),
    };
    ApiError::InvalidRequest {
        message,
        param,
        code: "invalid_request",
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use omnigate_openapi::ChatCompletionRequest;

    #[test]
    fn bad_part_type_is_named_with_its_path() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"hologram"}]}]}"#;
        let err = parse::<ChatCompletionRequest>(body).unwrap_err();
        let envelope = err.body().error;
        assert_eq!(err.status().as_u16(), 400);
        assert_eq!(
            envelope.param.as_deref(),
            Some("messages[0].content[0].type")
        );
        assert!(
            envelope.message.contains("hologram"),
            "{}",
            envelope.message
        );
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        let err = parse::<ChatCompletionRequest>(b"{\"model\": ").unwrap_err();
        assert_eq!(err.body().error.code.as_deref(), Some("invalid_json"));
    }

    #[test]
    fn missing_field_is_named() {
        let err = parse::<ChatCompletionRequest>(br#"{"messages": []}"#).unwrap_err();
        assert!(err.body().error.message.contains("model"));
    }

    #[test]
    fn trailing_garbage_is_invalid_json() {
        let err = parse::<ChatCompletionRequest>(br#"{"model":"m","messages":[]} x"#).unwrap_err();
        assert_eq!(err.body().error.code.as_deref(), Some("invalid_json"));
    }

    #[test]
    fn unknown_fields_are_kept() {
        let req: ChatCompletionRequest =
            parse(br#"{"model":"m","messages":[],"vendor_knob":3}"#).unwrap();
        assert_eq!(req.extra["vendor_knob"], 3);
    }
}
