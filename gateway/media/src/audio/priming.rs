//! AAC encoder delay ("priming") and end padding. Symphonia's AAC decoder emits the priming
//! samples and its MP4 demuxer neither applies the edit list nor reads iTunSMPB, so without this
//! every AAC clip would start with ~23 ms of encoder warm-up and be that much too long.
//!
//! Sources, most authoritative first: the demuxer's own delay/padding (if a future Symphonia sets
//! them), Apple's `iTunSMPB` tag, the MP4 edit list (`elst`, what ffmpeg writes), and otherwise
//! the 1024 frames of one AAC-LC frame that every common encoder primes with. The extra 576-frame
//! decoder delay some tools add is not assumed: only a container figure can justify it.

use symphonia::core::formats::{FormatReader, Track};
use symphonia::core::meta::RawValue;

use super::sink::Gapless;

/// Standard AAC-LC priming: one frame.
const DEFAULT_AAC_PRIMING: u64 = 1024;

/// Works out the priming and real length of an AAC track.
pub(crate) fn aac_gapless(
    track: &Track,
    format: &mut dyn FormatReader,
    bytes: &[u8],
    sample_rate: u32,
) -> Gapless {
    if let Some(delay) = track.delay {
        return Gapless {
            skip: u64::from(delay),
            keep: track.num_frames,
            source: "container",
        };
    }
    if let Some(gapless) = itunsmpb_from(format) {
        return gapless;
    }
    if let Some(gapless) = mp4_edit_list(bytes, sample_rate) {
        return gapless;
    }
    Gapless {
        skip: DEFAULT_AAC_PRIMING,
        keep: None,
        source: "aac default",
    }
}

fn itunsmpb_from(format: &mut dyn FormatReader) -> Option<Gapless> {
    let mut metadata = format.metadata();
    let revision = metadata.skip_to_latest()?;
    let per_track = revision.per_track.iter().map(|t| &t.metadata);
    std::iter::once(&revision.media)
        .chain(per_track)
        .flat_map(|container| container.tags.iter())
        .filter(|tag| tag.raw.key.to_ascii_lowercase().ends_with("itunsmpb"))
        .find_map(|tag| match &tag.raw.value {
            RawValue::String(value) => parse_itunsmpb(value),
            _ => None,
        })
}

/// `" 00000000 00000840 000001C0 0000000000046E00 ..."`: delay, padding, real length (hex).
pub(crate) fn parse_itunsmpb(value: &str) -> Option<Gapless> {
    let mut fields = value.split_whitespace().skip(1);
    let delay = u64::from_str_radix(fields.next()?, 16).ok()?;
    let _padding = fields.next()?;
    let length = u64::from_str_radix(fields.next()?, 16).ok()?;
    Some(Gapless {
        skip: delay,
        keep: (length > 0).then_some(length),
        source: "iTunSMPB",
    })
}

/// Iterates ISO-BMFF boxes: `(type, payload)`. Stops at the first malformed size.
struct Boxes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Boxes<'a> {
    type Item = ([u8; 4], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let size32 = u32::from_be_bytes(self.rest.get(..4)?.try_into().ok()?);
        let kind: [u8; 4] = self.rest.get(4..8)?.try_into().ok()?;
        let (header, size) = match size32 {
            0 => (8, self.rest.len()),
            1 => {
                let large = u64::from_be_bytes(self.rest.get(8..16)?.try_into().ok()?);
                (16, usize::try_from(large).ok()?)
            }
            n => (8, n as usize),
        };
        if size < header || size > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let payload = &self.rest[header..size];
        self.rest = &self.rest[size..];
        Some((kind, payload))
    }
}

fn boxes(data: &[u8]) -> Boxes<'_> {
    Boxes { rest: data }
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, p)| p)
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// The timescale of an `mvhd` or `mdhd` payload (same layout up to that field).
fn timescale(full_box: &[u8]) -> Option<u32> {
    match full_box.first()? {
        0 => be_u32(full_box, 12),
        1 => be_u32(full_box, 20),
        _ => None,
    }
}

/// Reads the first sound track's edit list: its media time is the priming, its duration (in the
/// movie timescale) the real length.
pub(crate) fn mp4_edit_list(bytes: &[u8], sample_rate: u32) -> Option<Gapless> {
    let moov = child(bytes, b"moov")?;
    let movie_scale = timescale(child(moov, b"mvhd")?)?;
    let trak = boxes(moov)
        .filter(|(k, _)| k == b"trak")
        .map(|(_, p)| p)
        .find(|trak| {
            child(trak, b"mdia")
                .and_then(|m| child(m, b"hdlr"))
                .and_then(|h| h.get(8..12))
                == Some(b"soun".as_slice())
        })?;
    let media_scale = timescale(child(child(trak, b"mdia")?, b"mdhd")?)?;
    let elst = child(child(trak, b"edts")?, b"elst")?;
    let version = *elst.first()?;
    let count = be_u32(elst, 4)?;
    let entry_len = if version == 1 { 20 } else { 12 };
    // Skip leading empty edits (media_time == -1); the first real edit describes the audio.
    (0..count.min(64) as usize).find_map(|i| {
        let at = 8 + i * entry_len;
        let (duration, media_time) = if version == 1 {
            (be_u64(elst, at)?, be_u64(elst, at + 8)? as i64)
        } else {
            (
                u64::from(be_u32(elst, at)?),
                i64::from(be_u32(elst, at + 4)? as i32),
            )
        };
        if media_time < 0 {
            return None;
        }
        let rescale = |value: u64, from: u32| {
            (u128::from(value) * u128::from(sample_rate) / u128::from(from.max(1))) as u64
        };
        Some(Gapless {
            skip: rescale(media_time as u64, media_scale),
            keep: (duration > 0).then(|| rescale(duration, movie_scale)),
            source: "elst",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_itunsmpb() {
        let g = parse_itunsmpb(" 00000000 00000840 000001C0 0000000000046E00 00000000").unwrap();
        assert_eq!((g.skip, g.keep), (2112, Some(0x46E00)));
        assert!(parse_itunsmpb("garbage").is_none());
    }

    #[test]
    fn reads_ffmpegs_edit_list() {
        let m4a = include_bytes!("../../testdata/sine440_stereo_44k.m4a");
        let g = mp4_edit_list(m4a, 44_100).unwrap();
        assert_eq!((g.skip, g.keep), (1024, Some(22_050)));
    }

    #[test]
    fn malformed_boxes_do_not_panic() {
        assert!(mp4_edit_list(b"\0\0\0\x01moov\xff\xff\xff\xff\xff\xff\xff\xff", 44_100).is_none());
        assert!(mp4_edit_list(b"\0\0\0\x04moov", 44_100).is_none());
        assert!(mp4_edit_list(&[], 44_100).is_none());
        let m4a = include_bytes!("../../testdata/sine440_stereo_44k.m4a");
        for cut in (0..m4a.len()).step_by(97) {
            let _ = mp4_edit_list(&m4a[..cut], 44_100);
        }
    }
}
