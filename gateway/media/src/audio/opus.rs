//! Opus (what browsers' MediaRecorder produces in WebM and Ogg) through the pure-Rust
//! `opus-decoder` crate, fed with packets from Symphonia's Ogg and Matroska demuxers, since
//! Symphonia itself has no Opus decoder.
//!
//! The decoder works in 16-bit integers internally, so its output saturates at full scale; that
//! is Opus' own reference behaviour for integer output, not a clamp added here.

use opus_decoder::{OpusDecoder, OpusMultistreamDecoder};

use crate::error::{MediaError, MediaKind};

/// Opus always decodes at 48 kHz here (its native rate; resampling happens afterwards).
pub(crate) const OPUS_RATE: u32 = 48_000;
/// 120 ms, the longest Opus packet, at 48 kHz.
const MAX_FRAMES_PER_PACKET: usize = 5_760;

/// The fields of an `OpusHead` identification header (RFC 7845 §5.1) that decoding needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpusHead {
    pub channels: u8,
    pub pre_skip: u16,
    pub output_gain_q8: i16,
    pub mapping_family: u8,
    pub streams: u8,
    pub coupled: u8,
    pub mapping: Vec<u8>,
}

fn head_error(detail: &str) -> MediaError {
    MediaError::corrupt(MediaKind::Audio, format!("invalid Opus header: {detail}"))
}

/// Parses the header that both Ogg (first packet) and Matroska (CodecPrivate) carry.
pub(crate) fn parse_head(data: &[u8]) -> Result<OpusHead, MediaError> {
    if data.len() < 19 || !data.starts_with(b"OpusHead") {
        return Err(head_error("missing OpusHead"));
    }
    let channels = data[9];
    if channels == 0 {
        return Err(head_error("zero channels"));
    }
    let pre_skip = u16::from_le_bytes([data[10], data[11]]);
    let output_gain_q8 = i16::from_le_bytes([data[16], data[17]]);
    let mapping_family = data[18];
    let (streams, coupled, mapping) = if mapping_family == 0 {
        if channels > 2 {
            return Err(head_error(
                "more than two channels without a channel mapping",
            ));
        }
        (1, channels - 1, (0..channels).collect())
    } else {
        let table = data
            .get(21..21 + usize::from(channels))
            .ok_or_else(|| head_error("truncated channel mapping"))?;
        (data[19], data[20], table.to_vec())
    };
    Ok(OpusHead {
        channels,
        pre_skip,
        output_gain_q8,
        mapping_family,
        streams,
        coupled,
        mapping,
    })
}

enum Inner {
    Single(Box<OpusDecoder>),
    Multi(OpusMultistreamDecoder),
}

/// Decodes one Opus track's packets to interleaved f32 at 48 kHz.
pub(crate) struct OpusTrackDecoder {
    inner: Inner,
    channels: usize,
    gain: f32,
    pcm: Vec<f32>,
}

impl OpusTrackDecoder {
    /// Builds a decoder from the track's `OpusHead`.
    pub fn new(head: &OpusHead) -> Result<Self, MediaError> {
        let channels = usize::from(head.channels);
        let fail = |e: opus_decoder::OpusError| {
            MediaError::unsupported(MediaKind::Audio, format!("this Opus stream layout ({e})"))
        };
        let inner = if head.mapping_family == 0 {
            Inner::Single(Box::new(
                OpusDecoder::new(OPUS_RATE, channels).map_err(fail)?,
            ))
        } else {
            Inner::Multi(
                OpusMultistreamDecoder::new(
                    OPUS_RATE,
                    channels,
                    usize::from(head.streams),
                    usize::from(head.coupled),
                    &head.mapping,
                )
                .map_err(fail)?,
            )
        };
        // RFC 7845: the header's output gain (Q7.8 dB) must be applied.
        let gain = 10f32.powf(f32::from(head.output_gain_q8) / (20.0 * 256.0));
        Ok(Self {
            inner,
            channels,
            gain,
            pcm: vec![0.0; MAX_FRAMES_PER_PACKET * channels],
        })
    }

    /// Channels per frame.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one packet; returns its interleaved samples.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[f32], MediaError> {
        let frames = match &mut self.inner {
            Inner::Single(d) => d.decode_float(packet, &mut self.pcm, false),
            Inner::Multi(d) => d.decode_float(packet, &mut self.pcm, false),
        }
        .map_err(|e| MediaError::corrupt(MediaKind::Audio, format!("Opus packet: {e}")))?;
        let out = &mut self.pcm[..frames * self.channels];
        if self.gain != 1.0 {
            out.iter_mut().for_each(|s| *s *= self.gain);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_family_0_and_1_heads() {
        let mut head = b"OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\x01\0".to_vec();
        let h = parse_head(&head).unwrap();
        assert_eq!((h.channels, h.pre_skip, h.output_gain_q8), (2, 312, 256));
        assert_eq!((h.streams, h.coupled), (1, 1));

        head[9] = 3;
        head[18] = 1;
        assert!(parse_head(&head).is_err(), "family 1 needs a mapping table");
        head.extend_from_slice(&[2, 1, 0, 1, 2]);
        let h = parse_head(&head).unwrap();
        assert_eq!((h.streams, h.coupled, h.mapping), (2, 1, vec![0, 1, 2]));

        assert!(parse_head(b"OpusTags").is_err());
    }
}
