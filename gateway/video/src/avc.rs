//! H.264 sample plumbing: the avcC record, AVCC (length-prefixed) to
//! Annex-B conversion with every SPS vetted on the way, and IDR detection.

use crate::error::VideoError;

/// Largest picture side accepted at all, whatever the policy (H.264 level
/// 6.2 tops out at 8192; anything far beyond is hostile).
pub(crate) const ABSOLUTE_MAX_SIDE: u32 = 16_384;

/// NAL unit types: coded slice of a non-IDR picture (2-4 are its data
/// partitions), of an IDR picture, sequence and picture parameter sets.
const NAL_SLICE: u8 = 1;
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
/// SVC/MVC extension NALs (prefix, subset SPS, slice extension) and the SPS
/// extension: not needed for the base picture, and a subset SPS could size
/// the decoder behind our checks, so they are dropped.
const DROPPED_NALS: &[u8] = &[13, 14, 15, 20];

/// The decoder configuration from the avcC box.
#[derive(Debug, Clone)]
pub(crate) struct AvcConfig {
    /// Bytes in each sample's NAL length prefix (1, 2 or 4).
    pub length_size: usize,
    /// Sequence parameter sets, without prefixes.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets, without prefixes.
    pub pps: Vec<Vec<u8>>,
}

/// Parses an avcC (AVCDecoderConfigurationRecord, ISO 14496-15 §5.3.3).
pub(crate) fn parse_avcc(record: &[u8]) -> Result<AvcConfig, VideoError> {
    let length_size = usize::from(avcc_byte(record, 4)? & 0b11) + 1;
    if length_size == 3 {
        return Err(bad_avcc());
    }
    // Set counts are 5 and 8 bits wide, so the allocations are bounded.
    let mut at = 6;
    let sps = read_sets(record, &mut at, usize::from(avcc_byte(record, 5)? & 0x1f))?;
    let pps_count = usize::from(avcc_byte(record, at)?);
    at += 1;
    let pps = read_sets(record, &mut at, pps_count)?;
    Ok(AvcConfig {
        length_size,
        sps,
        pps,
    })
}

/// Reads `count` parameter sets, each prefixed by a 16-bit length.
fn read_sets(record: &[u8], at: &mut usize, count: usize) -> Result<Vec<Vec<u8>>, VideoError> {
    let mut sets = Vec::with_capacity(count);
    for _ in 0..count {
        let hi = avcc_byte(record, *at)?;
        let lo = avcc_byte(record, *at + 1)?;
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let set = record.get(*at + 2..*at + 2 + len).ok_or_else(bad_avcc)?;
        sets.push(set.to_vec());
        *at += 2 + len;
    }
    Ok(sets)
}

fn avcc_byte(record: &[u8], at: usize) -> Result<u8, VideoError> {
    record.get(at).copied().ok_or_else(bad_avcc)
}

fn bad_avcc() -> VideoError {
    VideoError::corrupt("malformed avcC decoder configuration")
}
/// Converts one AVCC sample (length-prefixed NAL units) to Annex-B (start
/// codes), appending to `out`. Every SPS met on the way goes through
/// `vet_sps` first, so in-band parameter sets get the same checks as the
/// avcC's.
pub(crate) fn append_annex_b(
    sample: &[u8],
    length_size: usize,
    out: &mut Vec<u8>,
    vet_sps: &mut dyn FnMut(&[u8]) -> Result<(), VideoError>,
) -> Result<(), VideoError> {
    let mut rest = sample;
    while !rest.is_empty() {
        let (prefix, tail) = rest
            .split_at_checked(length_size)
            .ok_or_else(|| VideoError::corrupt("sample ends inside a NAL length prefix"))?;
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let (nal, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| VideoError::corrupt("NAL unit longer than its sample"))?;
        rest = tail;
        let Some(&header) = nal.first() else {
            continue;
        };
        let kind = header & 0x1f;
        if DROPPED_NALS.contains(&kind) {
            continue;
        }
        if kind == NAL_SPS {
            vet_sps(nal)?;
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    Ok(())
}

/// Whether an AVCC sample holds an IDR slice: only those are safe decode
/// starting points. Files may flag open-GOP I-frames as sync samples too,
/// and decoding from one of them breaks on its leading B-frames.
pub(crate) fn is_idr(sample: &[u8], length_size: usize) -> bool {
    nal_units(sample, length_size).any(|nal| nal.first().is_some_and(|h| h & 0x1f == NAL_IDR))
}

/// Whether an AVCC sample is a picture no other picture predicts from
/// (every slice has `nal_ref_idc` 0: most B-frames) and carries no
/// parameter sets. Such a sample changes no decoder state that later
/// pictures read, so when it is not a wanted frame it need not be decoded
/// at all. A malformed sample is never disposable: the decoder gets it and
/// reports the damage.
pub(crate) fn is_disposable(sample: &[u8], length_size: usize) -> bool {
    let mut slices = 0usize;
    let mut consumed = 0usize;
    for nal in nal_units(sample, length_size) {
        consumed += length_size + nal.len();
        let Some(&header) = nal.first() else {
            continue;
        };
        let kind = header & 0x1f;
        let referenced = header & 0x60 != 0;
        match kind {
            NAL_SLICE..=NAL_IDR if referenced || kind == NAL_IDR => return false,
            NAL_SLICE..=NAL_IDR => slices += 1,
            NAL_SPS | NAL_PPS => return false,
            _ => {}
        }
    }
    slices > 0 && consumed == sample.len()
}

/// The NAL units of an AVCC sample, in order; stops at the first length
/// prefix that runs past the sample.
fn nal_units(sample: &[u8], length_size: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = sample;
    std::iter::from_fn(move || {
        let (prefix, tail) = rest.split_at_checked(length_size)?;
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let (nal, next) = tail.split_at_checked(len)?;
        rest = next;
        Some(nal)
    })
}

/// Appends a parameter set (SPS or PPS) with a start code.
pub(crate) fn append_parameter_set(set: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(set);
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_conversion_checks_lengths() {
        let mut out = Vec::new();
        let mut ok = |_: &[u8]| Ok(());
        append_annex_b(&[0, 0, 0, 2, 0x65, 0xaa], 4, &mut out, &mut ok).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0xaa]);
        let err = append_annex_b(&[0, 0, 0, 9, 0x65], 4, &mut out, &mut ok).unwrap_err();
        assert!(matches!(err, VideoError::Corrupt { .. }));
    }

    #[test]
    fn idr_detection_walks_nal_units() {
        // SEI then IDR slice; then a non-IDR slice alone; then garbage.
        assert!(is_idr(&[0, 0, 0, 1, 6, 0, 0, 0, 1, 0x65], 4));
        assert!(!is_idr(&[0, 0, 0, 1, 0x41], 4));
        assert!(!is_idr(&[0, 0, 0, 9, 0x41], 4));
    }

    #[test]
    fn only_unreferenced_complete_slices_are_disposable() {
        // nal_ref_idc 0 non-IDR slice (a plain B-frame), after an SEI.
        assert!(is_disposable(&[0, 0, 0, 1, 6, 0, 0, 0, 1, 0x01], 4));
        // The same slice marked as a reference (0x21, 0x41, 0x61).
        assert!(!is_disposable(&[0, 0, 0, 1, 0x21], 4));
        assert!(!is_disposable(&[0, 0, 0, 1, 0x41], 4));
        // An IDR slice, or parameter sets riding along: never skipped.
        assert!(!is_disposable(&[0, 0, 0, 1, 0x65], 4));
        assert!(!is_disposable(&[0, 0, 0, 1, 0x08, 0, 0, 0, 1, 0x01], 4));
        // No slice at all, or a length running past the end.
        assert!(!is_disposable(&[0, 0, 0, 1, 6], 4));
        assert!(!is_disposable(&[0, 0, 0, 1, 0x01, 0, 0, 0, 9, 0x01], 4));
        assert!(!is_disposable(&[0, 0, 0, 1, 0x01, 0, 0], 4));
    }
}
