//! Every variant's status and envelope, and how the inner layers' errors map onto them.

use super::*;

/// The status each variant must answer, written out again by hand: the match has no
/// wildcard, so a new variant does not compile until its status is stated here too.
fn expected_status(err: &ApiError) -> u16 {
    match err {
        ApiError::InvalidRequest { .. } | ApiError::InvalidConfig(_) => 400,
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
        (ApiError::InvalidConfig("models.m: bad".into()), 400),
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
    // At least one case for each of the enum's 23 variants.
    assert_eq!(variants.len(), 23);
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
