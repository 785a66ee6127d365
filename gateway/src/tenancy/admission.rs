//! One request's passage through its key's limits: [`admit`] after the body is parsed and its
//! media normalized (so the charge is known: estimated tokens, measured pixels, seconds and
//! frames), one store round trip; then [`Admitted::finish`] adds the `x-ratelimit-*` headers
//! and settles the request with what it really used, off the request's path. An admitted
//! request that fails, or whose client goes away, is settled too (by `Drop`), so a concurrency
//! slot is never leaked.

use crate::error::ApiError;
use crate::tenancy::headers::rate_limit_headers;
use crate::tenancy::stream_usage::StreamUsage;
use crate::tenancy::{Tenancy, store_unavailable};
use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::Response;
use futures::StreamExt;
use omnigate_backend::Usage;
use omnigate_openapi::MediaUsage;
use omnigate_tenants::gatekeeper::{Denial, Principal, Ticket, Used};
use omnigate_tenants::store::Refusal;
use omnigate_tenants::usage::dollars;
use omnigate_tenants::{Charge, Gatekeeper};
use std::sync::Arc;
use std::time::Duration;

/// The caller a request came with: a virtual key, or `None` (an operator's `server.api_keys`
/// key, or no authentication at all).
pub struct Caller(pub Option<Principal>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.remove::<Principal>()))
    }
}

/// An admitted request, settled when finished or dropped.
pub struct Admitted {
    gatekeeper: Arc<Gatekeeper>,
    ticket: Option<Ticket>,
    /// What it used so far (media is known at admission; tokens once the answer says).
    used: Used,
    /// For a stream: where its usage chunk's counts land, read when it is settled.
    reported: Option<Arc<StreamUsage>>,
}

/// Whether `caller` may call `model`; `None` for callers without a virtual key.
pub fn authorize(caller: &Caller, model: &str) -> Result<(), ApiError> {
    match &caller.0 {
        Some(principal) if principal.key.may_call(model).is_err() => {
            Err(ApiError::ModelNotAllowed(model.to_owned()))
        }
        _ => Ok(()),
    }
}

/// The charge of a request with `prompt_bytes` of text asking for up to `max_tokens`, and the
/// media the normalizer measured.
pub fn charge(prompt_bytes: usize, max_tokens: Option<u64>, media: &MediaUsage) -> (Charge, Used) {
    let tokens = omnigate_tenants::limits::estimate_tokens(prompt_bytes, max_tokens);
    let audio_ms = (media.audio_seconds * 1000.0).round().max(0.0) as u64;
    let charge = Charge {
        tokens,
        image_pixels: media.image_pixels,
        audio_ms,
        video_frames: u64::from(media.video_frames),
    };
    let used = Used {
        prompt_tokens: 0,
        completion_tokens: 0,
        // The normalizer counts frame pixels in `image_pixels`; prices split them.
        still_pixels: media.image_pixels,
        frame_pixels: 0,
        audio_ms,
        video_frames: u64::from(media.video_frames),
        tokens_reported: false,
    };
    (charge, used)
}

/// Bytes of text in a conversation (what the token estimate is made from).
pub fn text_bytes(messages: &[omnigate_openapi::ChatMessage]) -> usize {
    use omnigate_openapi::{ContentPart, MessageContent};
    messages
        .iter()
        .map(|message| match &message.content {
            Some(MessageContent::Text(text)) => text.len(),
            Some(MessageContent::Parts(parts)) => parts
                .iter()
                .map(|part| match part {
                    ContentPart::Text { text } => text.len(),
                    _ => 0,
                })
                .sum(),
            None => 0,
        })
        .sum()
}

/// The completion a request asks for at most (`max_completion_tokens`, else `max_tokens`).
pub fn max_tokens(params: &serde_json::Map<String, serde_json::Value>) -> Option<u64> {
    params
        .get("max_completion_tokens")
        .or_else(|| params.get("max_tokens"))
        .and_then(serde_json::Value::as_u64)
}

/// Checks and charges the caller's limits and budget for one request to `model`; `charge` is
/// only worked out for a caller with a virtual key (operators' keys skip all of this).
pub async fn admit(
    tenancy: &Tenancy,
    caller: &Caller,
    model: &str,
    charge: impl FnOnce() -> (Charge, Used),
) -> Result<Option<Box<Admitted>>, ApiError> {
    let Some(principal) = &caller.0 else {
        return Ok(None);
    };
    let (charge, used) = charge();
    let gatekeeper = tenancy.gatekeeper();
    match gatekeeper.admit(principal, model, charge).await {
        // Boxed: the handler's future holds it across the backend call, and most requests
        // (no virtual key) would carry its room for nothing.
        Ok(ticket) => Ok(Some(Box::new(Admitted {
            gatekeeper: Arc::clone(gatekeeper),
            ticket: Some(ticket),
            used,
            reported: None,
        }))),
        Err(Denial::StoreUnavailable) => Err(store_unavailable()),
        Err(Denial::Limited(refusal)) => Err(refused(refusal)),
    }
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Window {
            state,
            retry_after_ms,
        } => {
            let what = state.dimension.described();
            let whose = state.scope.kind();
            let message = match retry_after_ms {
                Some(ms) => format!(
                    "Rate limit reached for {what} on this {whose}: limit {}, remaining {}. Retry in {:.1} s.",
                    state.limit,
                    state.remaining,
                    ms as f64 / 1000.0
                ),
                None => format!(
                    "This request alone is over the {whose}'s limit of {} {what}; it can never be admitted.",
                    state.limit
                ),
            };
            ApiError::KeyLimited {
                message,
                code: "rate_limit_exceeded",
                retry_after: retry_after_ms.map(Duration::from_millis),
                headers: rate_limit_headers(std::slice::from_ref(&state)),
            }
        }
        Refusal::Concurrency { scope, limit } => ApiError::KeyLimited {
            message: format!(
                "Too many requests in flight for this {}: the limit is {limit} at once.",
                scope.kind()
            ),
            code: "rate_limit_exceeded",
            retry_after: Some(Duration::from_secs(1)),
            headers: Vec::new(),
        },
        Refusal::Budget {
            scope,
            spent_micros,
            hard_micros,
        } => ApiError::KeyLimited {
            message: format!(
                "The budget of this {} is spent: ${:.2} of ${:.2}.",
                scope.kind(),
                dollars(spent_micros),
                dollars(hard_micros)
            ),
            code: "insufficient_quota",
            retry_after: None,
            headers: Vec::new(),
        },
    }
}

impl Admitted {
    /// Records the tokens the answer reported.
    pub fn used_tokens(&mut self, usage: Option<&Usage>) {
        if let Some(usage) = usage {
            self.used.prompt_tokens = usage.prompt_tokens;
            self.used.completion_tokens = usage.completion_tokens;
            self.used.tokens_reported = true;
        }
    }

    /// Takes the token counts from a stream's usage chunk, when it has come, at settlement.
    pub fn tokens_from(&mut self, reported: Arc<StreamUsage>) {
        self.reported = Some(reported);
    }

    /// Adds the rate-limit (and soft-budget) headers to `response`, then settles.
    pub fn finish(mut self, response: &mut Response) {
        self.add_headers(response);
        self.settle();
    }

    /// Adds the headers, and settles when `response`'s body has been sent (or dropped): a stream
    /// holds its concurrency slot while it runs.
    pub fn finish_stream(mut self, response: Response) -> Response {
        let mut response = response;
        self.add_headers(&mut response);
        let (parts, body) = response.into_parts();
        let guard = self;
        let stream = body.into_data_stream().map(move |chunk| {
            let _held = &guard;
            chunk
        });
        Response::from_parts(parts, Body::from_stream(stream))
    }

    fn add_headers(&mut self, response: &mut Response) {
        let Some(ticket) = &self.ticket else {
            return;
        };
        let headers = response.headers_mut();
        let limits = rate_limit_headers(&ticket.windows);
        // One growth of the header map for all of them, not a rehash on the way.
        headers.reserve(limits.len());
        for (name, value) in limits {
            headers.insert(name, value);
        }
        if let Some((scope, spent, soft)) = &ticket.soft_budget_passed
            && let Ok(value) = HeaderValue::try_from(format!(
                "{} has spent ${:.2} of a soft budget of ${:.2}",
                scope.kind(),
                dollars(*spent),
                dollars(*soft)
            ))
        {
            headers.insert("x-omnigate-budget-warning", value);
        }
        if ticket.degraded {
            headers.insert(
                "x-omnigate-limits",
                HeaderValue::from_static("local; the shared store is unavailable"),
            );
        }
    }

    fn settle(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        if let Some(usage) = self.reported.take().and_then(|reported| reported.get()) {
            self.used_tokens(Some(&usage));
        }
        // Queued for the gatekeeper's settler: written off the request's path, in batches.
        self.gatekeeper.settle(ticket, self.used);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.settle();
    }
}
