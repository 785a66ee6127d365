//! Bearer-key authentication: API keys for `/v1`, operators' keys for the admin views.
//! `server.api_keys` are compared in constant time, every one of them, so timing tells nothing
//! about which key (or how much of one) matched; virtual keys are found by the SHA-256 of the
//! token (see `omnigate_tenants::key`), and the caller's key travels on to the handler, which
//! checks its model allow-list and limits.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Lets the request through when authentication is off or its key is valid; otherwise 401.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let keys = &state.settings().api_keys;
    let tenancy = state.tenancy();
    if keys.is_empty() && !tenancy.keys_exist() {
        return next.run(request).await;
    }
    let Some(presented) = bearer_token(request.headers()) else {
        return ApiError::Unauthorized(
            "Missing API key: send it as `Authorization: Bearer <key>`.",
        )
        .into_response();
    };
    if matches_any(keys, presented) {
        return next.run(request).await;
    }
    if !tenancy.keys_exist() {
        return ApiError::Unauthorized("Invalid API key.").into_response();
    }
    match tenancy.authenticate(presented).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(err) => err.into_response(),
    }
}

/// Lets an operator through to the admin views: a valid admin key; or, when no key of any kind
/// exists (local development), anyone. Any other key (an API key, a virtual key) gets 403.
pub async fn require_admin_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let settings = state.settings();
    if settings.admin_api_keys.is_empty()
        && settings.api_keys.is_empty()
        && !state.tenancy().keys_exist()
    {
        return next.run(request).await;
    }
    let Some(presented) = bearer_token(request.headers()) else {
        return ApiError::Unauthorized(
            "Missing admin key: send it as `Authorization: Bearer <key>`.",
        )
        .into_response();
    };
    if matches_any(&settings.admin_api_keys, presented) {
        next.run(request).await
    } else {
        ApiError::Forbidden("This view needs an admin key (`server.admin_api_keys`).")
            .into_response()
    }
}

fn matches_any(keys: &[omnigate_config::Secret], presented: &str) -> bool {
    keys.iter().fold(false, |valid, key| {
        valid | constant_time_eq::constant_time_eq(key.expose().as_bytes(), presented.as_bytes())
    })
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;
    use axum::http::HeaderMap;

    #[test]
    fn bearer_token_is_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer sk-1".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("sk-1"));
        headers.insert("authorization", "bearer  sk-2 ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("sk-2"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
