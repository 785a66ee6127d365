//! Checks a WAV file's format chunk before symphonia parses it.
//!
//! symphonia-format-riff 0.6.1 does 16-bit arithmetic on the declared channel count and channel
//! mask (`num_channels * bytes_per_sample`, a mask shifted by the channels it lacks) that
//! overflows on hostile headers: a panic where overflow checks are on (debug and test builds,
//! the fuzzers) and a silently wrong value where they are off. No real recording declares what
//! triggers it, so such a header is refused here with a clear error before symphonia sees it.

use crate::error::{MediaError, MediaKind};

/// The most channels symphonia maps to positions (`Position::from_count`); it refuses more
/// itself, but only after the arithmetic above.
const MAX_CHANNELS: u16 = 26;

/// At most this many chunks are skipped looking for `fmt ` (it comes first in real files).
const MAX_CHUNKS: usize = 64;

const WAVE_FORMAT_EXTENSIBLE: u16 = 0xfffe;

/// Refuses a RIFF/WAVE (or RF64) header whose format chunk declares a channel count or channel
/// mask no decoder can honour. Anything that is not such a file passes untouched.
pub(crate) fn check(bytes: &[u8]) -> Result<(), MediaError> {
    let Some(fmt) = format_chunk(bytes) else {
        return Ok(());
    };
    let Some(channels) = le_u16(fmt, 2) else {
        return Ok(()); // too short: symphonia refuses it as malformed
    };
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(refused(format!(
            "the WAV header declares {channels} channels (accepted: 1..={MAX_CHANNELS})"
        )));
    }
    // WAVE_FORMAT_EXTENSIBLE: cbSize (16), valid bits (18), then the channel mask (20). Missing
    // channels are given the positions above the mask's highest one; they must fit in 32 bits.
    if le_u16(fmt, 0) == Some(WAVE_FORMAT_EXTENSIBLE)
        && let Some(mask) = le_u32(fmt, 20)
    {
        let missing = u32::from(channels).saturating_sub(mask.count_ones());
        let used = 32 - mask.leading_zeros();
        if missing > 0 && used + missing > 32 {
            return Err(refused(format!(
                "the WAV header's channel mask {mask:#010x} has no room for {channels} channels"
            )));
        }
    }
    Ok(())
}

fn refused(detail: String) -> MediaError {
    MediaError::corrupt(MediaKind::Audio, detail)
}

/// The body of the first `fmt ` chunk of a RIFF/WAVE or RF64/WAVE file, if there is one.
fn format_chunk(bytes: &[u8]) -> Option<&[u8]> {
    let magic = bytes.get(..4)?;
    if (magic != b"RIFF" && magic != b"RF64") || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12usize;
    for _ in 0..MAX_CHUNKS {
        let id = bytes.get(at..at + 4)?;
        let len = le_u32(bytes, at + 4)? as usize;
        let body = at + 8;
        if id == b"fmt " {
            return Some(&bytes[body..body.saturating_add(len).min(bytes.len())]);
        }
        // Chunks are padded to an even length.
        at = body.checked_add(len)?.checked_add(len & 1)?;
    }
    None
}

fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canonical 44-byte header: PCM, `channels`, 16 kHz, 16-bit, no samples.
    fn header(format: u16, channels: u16, extra: &[u8]) -> Vec<u8> {
        let fmt_len = 16 + extra.len() as u32;
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(4 + 8 + fmt_len + 8).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&fmt_len.to_le_bytes());
        out.extend_from_slice(&format.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&16_000u32.to_le_bytes());
        out.extend_from_slice(&(32_000 * u32::from(channels)).to_le_bytes());
        out.extend_from_slice(&channels.wrapping_mul(2).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(extra);
        out.extend_from_slice(b"data");
        out.extend_from_slice(&0u32.to_le_bytes());
        out
    }

    fn extensible(channels: u16, mask: u32) -> Vec<u8> {
        let mut extra = 22u16.to_le_bytes().to_vec();
        extra.extend_from_slice(&16u16.to_le_bytes());
        extra.extend_from_slice(&mask.to_le_bytes());
        extra.extend_from_slice(&[0; 16]); // the sub-format GUID
        header(WAVE_FORMAT_EXTENSIBLE, channels, &extra)
    }

    #[test]
    fn real_channel_counts_and_masks_pass() {
        for channels in [1, 2, 6, MAX_CHANNELS] {
            assert!(check(&header(1, channels, &[])).is_ok(), "{channels}");
        }
        assert!(check(&extensible(2, 0b11)).is_ok());
        assert!(check(&extensible(6, 0)).is_ok());
        // A mask with fewer positions than channels, room left above it.
        assert!(check(&extensible(4, 0b11)).is_ok());
    }

    #[test]
    fn channel_counts_no_decoder_honours_are_refused() {
        for channels in [0, MAX_CHANNELS + 1, u16::MAX] {
            let error = check(&header(1, channels, &[])).unwrap_err();
            assert!(error.to_string().contains("channels"), "{error}");
            assert!(error.is_client_error());
        }
    }

    #[test]
    fn a_mask_without_room_for_the_missing_channels_is_refused() {
        let error = check(&extensible(2, 0x8000_0000)).unwrap_err();
        assert!(error.to_string().contains("channel mask"), "{error}");
    }

    #[test]
    fn the_format_chunk_is_found_after_other_chunks() {
        let mut file = header(1, u16::MAX, &[]);
        // An odd-length LIST chunk (padded) before `fmt `.
        let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), b"abc\0"].concat();
        file.splice(12..12, list);
        assert!(check(&file).is_err());
    }

    #[test]
    fn other_and_truncated_bytes_pass_to_the_decoder() {
        for bytes in [
            &b""[..],
            b"RIFF",
            b"RIFF\0\0\0\0WAVE",
            b"RIFF\0\0\0\0WAVEfmt \xff\xff\xff\xff",
            b"ID3\x04\0\0\0\0\0\0",
            b"fLaC\0\0\0\x22",
        ] {
            assert!(check(bytes).is_ok(), "{bytes:?}");
        }
    }
}
