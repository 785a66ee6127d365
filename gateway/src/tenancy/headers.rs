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
    // Three headers for requests and three for tokens is the usual case.
    let mut out = Vec::with_capacity(6);
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

/// A duration as OpenAI writes its resets (Go's format): `20ms`, `1s`, `1.5s`, `6m0s`. Written
/// with integer formatting, not the formatter: two of these go on every answer to a limited key.
pub fn go_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    let mut digits = itoa::Buffer::new();
    let mut out = String::with_capacity(16);
    if ms < 1000 {
        out.push_str(digits.format(ms));
        out.push_str("ms");
        return out;
    }
    let (minutes, rest_ms) = (ms / 60_000, ms % 60_000);
    if minutes > 0 {
        out.push_str(digits.format(minutes));
        out.push('m');
    }
    out.push_str(digits.format(rest_ms / 1000));
    let millis = rest_ms % 1000;
    if millis != 0 {
        // Three decimals, trailing zeros dropped: 250 → ".25".
        let decimals = [millis / 100, millis / 10 % 10, millis % 10];
        let kept = 3 - decimals.iter().rev().take_while(|&&d| d == 0).count();
        out.push('.');
        for digit in &decimals[..kept] {
            out.push(char::from(b'0' + *digit as u8));
        }
    }
    out.push('s');
    out
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
        assert_eq!(go_duration(Duration::from_millis(999)), "999ms");
        assert_eq!(go_duration(Duration::from_millis(60_000)), "1m0s");
        assert_eq!(go_duration(Duration::from_millis(2_005)), "2.005s");
        assert_eq!(go_duration(Duration::from_millis(3_100)), "3.1s");
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
