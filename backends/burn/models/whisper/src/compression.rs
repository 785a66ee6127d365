//! Whisper's `compression_ratio`: how well a window's text compresses, its test for a decode
//! stuck repeating itself (above 2.4 openai-whisper decodes the window again, hotter).

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// Python's `zlib.compress` default level, which openai-whisper and faster-whisper use.
const LEVEL: u32 = 6;

/// The UTF-8 length of `text` over its zlib-compressed length (0 for empty text), computed as
/// openai-whisper's `get_compression_ratio` does. The deflate here is zlib-rs, whose streams
/// can be a few bytes from C zlib's, so the ratio may differ from Whisper's in the second
/// decimal.
pub(crate) fn compression_ratio(text: &str) -> std::io::Result<f32> {
    let bytes = text.as_bytes();
    let mut encoder = ZlibEncoder::new(
        Vec::with_capacity(bytes.len() + 16),
        Compression::new(LEVEL),
    );
    encoder.write_all(bytes)?;
    let compressed = encoder.finish()?;
    Ok(bytes.len() as f32 / compressed.len().max(1) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference ratios from Python 3.11's `zlib.compress` (zlib 1.2.13).
    #[test]
    fn ratios_are_close_to_python_zlib_s() {
        let cases = [
            (
                "Ever tried, ever failed. No matter, try again. Fail again. Fail better.",
                71.0 / 61.0,
            ),
            ("The quick brown fox jumps over the lazy dog.", 44.0 / 51.0),
        ];
        for (text, python) in cases {
            let ratio = compression_ratio(text).unwrap();
            assert!(
                (ratio - python).abs() / python < 0.05,
                "{text:?}: {ratio} against Python's {python}"
            );
        }
        assert_eq!(compression_ratio("").unwrap(), 0.0);
    }

    #[test]
    fn a_decode_stuck_repeating_itself_is_above_whisper_s_threshold() {
        let loop_text = "the the the the the the the the the the the the the the the the";
        assert!(compression_ratio(loop_text).unwrap() > 2.4);
        let speech = "Please send the quarterly report to the finance team before Friday.";
        assert!(compression_ratio(speech).unwrap() < 2.4);
    }
}
