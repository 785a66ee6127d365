//! OpenAI's rate-limit headers (`x-ratelimit-limit-requests`, `-remaining-requests`,
//! `-reset-requests`, and the same for tokens), plus omnigate's own for media
//! (`x-ratelimit-*-image-pixels`, `-audio-ms`, `-video-frames`), from the windows a request was
//! admitted under or refused by. Where a key and its team both limit a dimension, the tighter
//! one (less remaining) is reported.

use axum::http::{HeaderName, HeaderValue};
use omnigate_tenants::Dimension;
use omnigate_tenants::store::WindowState;
use std::time::Duration;

/// The header names of one dimension: limit, remaining, reset (built at compile time: these go
/// on every answer to a limited key).
fn names(dimension: Dimension) -> [HeaderName; 3] {
    const fn three(
        limit: &'static str,
        remaining: &'static str,
        reset: &'static str,
    ) -> [HeaderName; 3] {
        [
            HeaderName::from_static(limit),
            HeaderName::from_static(remaining),
            HeaderName::from_static(reset),
        ]
    }
    const REQUESTS: [HeaderName; 3] = three(
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    );
    const TOKENS: [HeaderName; 3] = three(
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    );
    const PIXELS: [HeaderName; 3] = three(
        "x-ratelimit-limit-image-pixels",
        "x-ratelimit-remaining-image-pixels",
        "x-ratelimit-reset-image-pixels",
    );
    const AUDIO: [HeaderName; 3] = three(
        "x-ratelimit-limit-audio-ms",
        "x-ratelimit-remaining-audio-ms",
        "x-ratelimit-reset-audio-ms",
    );
    const FRAMES: [HeaderName; 3] = three(
        "x-ratelimit-limit-video-frames",
        "x-ratelimit-remaining-video-frames",
        "x-ratelimit-reset-video-frames",
    );
    match dimension {
        Dimension::Requests => REQUESTS,
        Dimension::Tokens => TOKENS,
        Dimension::ImagePixels => PIXELS,
        Dimension::AudioMillis => AUDIO,
        Dimension::VideoFrames => FRAMES,
    }
}

/// The headers for `windows`.
pub fn rate_limit_headers(windows: &[WindowState]) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for dimension in Dimension::ALL {
        let Some(tightest) = windows
            .iter()
            .filter(|w| w.dimension == dimension)
            .min_by_key(|w| w.remaining)
        else {
            continue;
        };
        let [limit, remaining, reset] = names(dimension);
        out.push((limit, HeaderValue::from(tightest.limit)));
        out.push((remaining, HeaderValue::from(tightest.remaining)));
        if let Ok(value) =
            HeaderValue::try_from(go_duration(Duration::from_millis(tightest.reset_ms)))
        {
            out.push((reset, value));
        }
    }
    out
}

/// A duration as OpenAI writes its resets (Go's format): `20ms`, `1s`, `1.5s`, `6m0s`.
pub fn go_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let minutes = ms / 60_000;
    let rest_ms = ms % 60_000;
    let seconds = if rest_ms.is_multiple_of(1000) {
        format!("{}", rest_ms / 1000)
    } else {
        let text = format!("{:.3}", rest_ms as f64 / 1000.0);
        text.trim_end_matches('0').to_owned()
    };
    if minutes == 0 {
        format!("{seconds}s")
    } else {
        format!("{minutes}m{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnigate_tenants::store::Scope;

    #[test]
    fn resets_are_written_as_openai_writes_them() {
        assert_eq!(go_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_millis(61_250)), "1m1.25s");
    }

    #[test]
    fn the_tighter_of_key_and_team_is_reported() {
        let window = |scope: Scope, remaining| WindowState {
            scope,
            dimension: Dimension::Requests,
            limit: 10,
            remaining,
            reset_ms: 1000,
        };
        let headers =
            rate_limit_headers(&[window(Scope::key("k"), 7), window(Scope::team("t"), 2)]);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(get("x-ratelimit-limit-requests").as_deref(), Some("10"));
        assert_eq!(get("x-ratelimit-remaining-requests").as_deref(), Some("2"));
        assert_eq!(get("x-ratelimit-reset-requests").as_deref(), Some("1s"));
        assert_eq!(get("x-ratelimit-limit-tokens"), None);
    }
}
