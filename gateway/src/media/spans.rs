//! The spans of the media pass: `media.fetch` (a URL fetched, a `data:` URL or inline base64
//! decoded to bytes) and `media.decode` (those bytes decoded and shaped to the model's contract,
//! on the blocking pool) for each media part, with what they found as attributes. Debug spans:
//! with traces off none is created and the `record_*` helpers return at once. A span is held
//! while its stage runs rather than wrapping the stage's future: nothing inside needs it as a
//! parent, and a wrapper would grow the request's future for everyone. Numbers are
//! recorded signed: OpenTelemetry's attributes have no unsigned integers (the bridge would write
//! them as text).

use omnigate_media::AudioReport;
use omnigate_openapi::{ImageItem, VideoItem};
use tracing::Span;
use tracing::field::Empty;

/// Getting the bytes of part `param` (`kind`: image, audio or video).
pub(crate) fn fetch(param: &str, kind: &'static str) -> Span {
    tracing::debug_span!("media.fetch", param, kind, source = Empty, bytes = Empty)
}

/// The bytes arrived: from where (`http`, `data`, `file`, `inline`) and how many. Ends the span.
pub(crate) fn fetched(span: Span, source: &str, bytes: usize) {
    span.record("source", source);
    span.record("bytes", signed(bytes as u64));
}

/// Decoding part `param`'s `bytes` bytes.
pub(crate) fn decode(param: &str, kind: &'static str, bytes: usize) -> Span {
    tracing::debug_span!(
        "media.decode",
        param,
        kind,
        bytes = signed(bytes as u64),
        format = Empty,
        width = Empty,
        height = Empty,
        pixels = Empty,
        seconds = Empty,
        sample_rate = Empty,
        frames = Empty,
        decoded_frames = Empty,
    )
}

/// A picture: its format and size as sent, and the pixels the model gets. Ends the span.
pub(crate) fn record_image(span: Span, item: &ImageItem) {
    if span.is_disabled() {
        return;
    }
    span.record("format", item.source_format.as_str());
    span.record("width", i64::from(item.original_width));
    span.record("height", i64::from(item.original_height));
    let pixels = u64::from(item.output_width) * u64::from(item.output_height);
    span.record("pixels", signed(pixels));
}

/// A sound: its codec, its rate as sent, and the seconds the model gets. Ends the span.
pub(crate) fn record_audio(span: Span, report: &AudioReport) {
    if span.is_disabled() {
        return;
    }
    span.record("format", report.codec.as_str());
    span.record("sample_rate", i64::from(report.source_sample_rate));
    span.record("seconds", report.output_seconds);
}

/// A video: its codec and size, its length, the frames the model gets (and their pixels), and
/// the frames decoded to get them. Ends the span.
pub(crate) fn record_video(span: Span, item: &VideoItem, frames: usize, pixels: u64) {
    if span.is_disabled() {
        return;
    }
    span.record("format", item.codec.as_str());
    span.record("width", i64::from(item.width));
    span.record("height", i64::from(item.height));
    span.record("seconds", item.duration_secs);
    span.record("frames", signed(frames as u64));
    span.record("pixels", signed(pixels));
    span.record("decoded_frames", i64::from(item.decoded_frames));
}

fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
