//! Fetch and decode failures of one media item, as client-facing [`ApiError`]s naming the item.

use crate::error::{ApiError, MediaProblem};
use omnigate_fetch::FetchError;
use omnigate_media::MediaError;

pub(crate) fn media(
    problem: MediaProblem,
    param: &str,
    code: &'static str,
    message: impl Into<String>,
) -> ApiError {
    ApiError::Media {
        problem,
        message: message.into(),
        param: param.to_owned(),
        code,
    }
}

pub(crate) fn from_fetch(err: FetchError, param: &str) -> ApiError {
    match err.status_code() {
        413 => media(
            MediaProblem::TooLarge,
            param,
            "media_too_large",
            err.to_string(),
        ),
        400..=499 => media(
            MediaProblem::Invalid,
            param,
            "media_fetch_failed",
            err.to_string(),
        ),
        502 => ApiError::BadGateway(format!("{param}: {err}")),
        _ => ApiError::Internal(format!("{param}: {err}")),
    }
}

pub(crate) fn from_media(err: MediaError, param: &str) -> ApiError {
    let problem = match &err {
        MediaError::Empty(_) => MediaProblem::Invalid,
        MediaError::ImageTooLarge { .. } | MediaError::AudioTooLong { .. } => {
            MediaProblem::TooLarge
        }
        MediaError::Unsupported { .. } => MediaProblem::Unsupported,
        MediaError::Corrupt { .. } => MediaProblem::Undecodable,
        MediaError::InvalidPolicy(_) | MediaError::Internal(_) => {
            return ApiError::Internal(format!("{param}: {err}"));
        }
    };
    media(problem, param, err.code(), format!("{param}: {err}"))
}
