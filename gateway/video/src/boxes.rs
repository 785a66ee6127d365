//! Bounds-checked pre-scan of the ISO-BMFF box tree, run before mp4parse.
//!
//! mp4parse reserves table capacity from the entry counts a file declares
//! (fallibly, but a 4-billion-entry `stts` still asks for 32 GiB). This scan
//! checks every sample-table count against the bytes its box really holds,
//! so that nothing downstream allocates more than the input's size. It also
//! finds what mp4parse does not report: the moov's byte range, the major
//! brand (MP4 or QuickTime), fragmentation, and each track's handler and
//! sample-entry fourcc (so an unsupported codec can be named).

use crate::error::VideoError;
use std::ops::Range;

/// Nesting deeper than this inside moov is refused (real files use ~6).
const MAX_DEPTH: usize = 10;

/// Top-level box types that may open an MP4/MOV file; anything else first
/// means the input is not ISO-BMFF at all.
const TOP_LEVEL: &[&[u8; 4]] = &[
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp", b"sidx",
    b"moof", b"meta", b"pdin", b"junk",
];

/// Boxes inside moov whose children mp4parse reads.
const CONTAINERS: &[&[u8; 4]] = &[b"trak", b"mdia", b"minf", b"stbl", b"edts", b"mvex"];

/// What the pre-scan learned about the file's layout.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// `ftyp` major brand, if the file has one (`qt  ` means QuickTime).
    pub brand: Option<[u8; 4]>,
    /// Byte range of the first top-level moov box, header included.
    pub moov: Range<usize>,
    /// One entry per trak, in file order (the order mp4parse reports them).
    pub traks: Vec<TrakSummary>,
    /// Movie fragments (moof/mvex) are present.
    pub fragmented: bool,
    /// The mvhd's declared duration in seconds (longest track), if known.
    pub movie_duration_secs: Option<f64>,
}

/// A track as seen by the pre-scan.
#[derive(Debug, Default, Clone)]
pub(crate) struct TrakSummary {
    /// `hdlr` handler type, e.g. `vide` or `soun`.
    pub handler: Option<[u8; 4]>,
    /// Fourcc of the first `stsd` sample entry, e.g. `avc1` or `mp4v`.
    pub sample_entry: Option<[u8; 4]>,
}

/// One box header, resolved against the bytes that contain it.
struct BoxHead {
    kind: [u8; 4],
    /// Offset of the payload (after size, type and any 64-bit size).
    body: usize,
    /// One past the box's last byte as declared (may exceed the container).
    end: u64,
}

/// Reads a big-endian u32 at `at`, or `None` past the end.
pub(crate) fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn fourcc(data: &[u8], at: usize) -> Option<[u8; 4]> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Parses the box header at `pos`; `limit` is the container's end, used for
/// size 0 ("to the end"). `None` if the header itself does not fit or
/// declares a size smaller than the header.
fn head(data: &[u8], pos: usize, limit: usize) -> Option<BoxHead> {
    let size32 = be_u32(data, pos)?;
    let kind = fourcc(data, pos + 4)?;
    let (size, header_len) = match size32 {
        0 => (u64::try_from(limit - pos).ok()?, 8),
        1 => {
            let hi = be_u32(data, pos + 8)?;
            let lo = be_u32(data, pos + 12)?;
            ((u64::from(hi) << 32) | u64::from(lo), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header_len as u64 {
        return None;
    }
    Some(BoxHead {
        kind,
        body: pos + header_len,
        end: (pos as u64).checked_add(size)?,
    })
}

/// Scans the top level of `data` and the moov box's tree.
pub(crate) fn scan(data: &[u8]) -> Result<Layout, VideoError> {
    if data.is_empty() {
        return Err(VideoError::Empty);
    }
    let mut layout = Layout::default();
    let mut moov = None;
    let mut truncated = false;
    let mut pos = 0usize;
    while pos < data.len() {
        let Some(h) = head(data, pos, data.len()) else {
            if pos == 0 {
                return Err(not_mp4());
            }
            // A few stray bytes after the last box: tolerated only if too
            // short to be a header; otherwise the structure is broken.
            if data.len() - pos < 8 {
                truncated = true;
                break;
            }
            return Err(VideoError::corrupt("malformed top-level box header"));
        };
        if pos == 0 && !TOP_LEVEL.contains(&&h.kind) {
            return Err(not_mp4());
        }
        let fits = h.end <= data.len() as u64;
        match &h.kind {
            b"ftyp" if fits => layout.brand = fourcc(data, h.body),
            b"moov" if moov.is_none() => {
                if !fits {
                    return Err(VideoError::Truncated);
                }
                // `fits` makes `end` a valid usize.
                moov = Some(pos..h.end as usize);
            }
            b"moof" => layout.fragmented = true,
            _ => {}
        }
        if !fits {
            // Usually a cut-off mdat; if the moov came first the sample
            // ranges are checked against the input later.
            truncated = true;
            break;
        }
        pos = h.end as usize;
    }
    let Some(moov) = moov else {
        return Err(if truncated {
            VideoError::Truncated
        } else {
            VideoError::corrupt("no moov box (the movie header is missing)")
        });
    };
    // The moov header is 8 or 16 bytes; re-read it to find the payload.
    let body = head(data, moov.start, moov.end).map_or(moov.end, |h| h.body);
    walk(data, body..moov.end, 0, &mut layout, None, b"moov")?;
    layout.moov = moov;
    Ok(layout)
}

fn not_mp4() -> VideoError {
    VideoError::NotMp4 {
        reason: "the data does not start with an ISO-BMFF box (ftyp/moov/mdat)".into(),
    }
}

/// Walks the children of a box inside moov, checking every table count.
/// `trak` is the index in `layout.traks` of the enclosing track, if any.
fn walk(
    data: &[u8],
    range: Range<usize>,
    depth: usize,
    layout: &mut Layout,
    trak: Option<usize>,
    parent: &[u8; 4],
) -> Result<(), VideoError> {
    if depth > MAX_DEPTH {
        return Err(VideoError::corrupt("boxes nested too deeply"));
    }
    let mut pos = range.start;
    while pos < range.end {
        if range.end - pos < 8 {
            // mp4parse ignores trailing padding shorter than a header.
            break;
        }
        let h = head(data, pos, range.end)
            .ok_or_else(|| VideoError::corrupt("malformed box header in moov"))?;
        if h.end > range.end as u64 {
            return Err(VideoError::corrupt(format!(
                "'{}' box overruns its parent",
                String::from_utf8_lossy(&h.kind)
            )));
        }
        // Checked just above: `end` lies inside `range`.
        let end = h.end as usize;
        let body = h.body..end;
        let mut child_trak = trak;
        if &h.kind == b"trak" {
            layout.traks.push(TrakSummary::default());
            child_trak = Some(layout.traks.len() - 1);
        }
        if &h.kind == b"mvex" {
            layout.fragmented = true;
        }
        if &h.kind == b"mvhd" && parent == b"moov" {
            layout.movie_duration_secs = mvhd_duration(data.get(body.clone()).unwrap_or_default());
        }
        if CONTAINERS.contains(&&h.kind) {
            walk(data, body, depth + 1, layout, child_trak, &h.kind)?;
        } else {
            let summary = trak.and_then(|i| layout.traks.get_mut(i));
            check_leaf(data, &h.kind, parent, body, summary)?;
        }
        pos = end;
    }
    Ok(())
}

/// Checks one leaf box: table entry counts must fit the box, and the track
/// summary picks up the handler and sample-entry types.
fn check_leaf(
    data: &[u8],
    kind: &[u8; 4],
    parent: &[u8; 4],
    body: Range<usize>,
    trak: Option<&mut TrakSummary>,
) -> Result<(), VideoError> {
    let payload = data.get(body).unwrap_or_default();
    // (offset of the u32 count inside the payload, bytes per entry).
    let table = match kind {
        b"stts" | b"ctts" | b"co64" => Some((4, 8)),
        b"stsc" => Some((4, 12)),
        b"stco" | b"stss" => Some((4, 4)),
        // Constant-size stsz has no per-sample table (its count is bounded
        // later, against the input length); `count` is at offset 8.
        b"stsz" => (be_u32(payload, 4) == Some(0)).then_some((8, 4)),
        b"elst" => Some((4, if payload.first() == Some(&1) { 20 } else { 12 })),
        // Each sample entry is a box of at least a header.
        b"stsd" => Some((4, 8)),
        // Version-1 pssh lists 16-byte key ids after the 16-byte system id.
        b"pssh" => (payload.first().is_some_and(|v| *v > 0)).then_some((20, 16)),
        _ => None,
    };
    if let Some((at, entry)) = table {
        let count = be_u32(payload, at).ok_or_else(|| short_box(kind))?;
        let room = payload.len().saturating_sub(at + 4) as u64;
        if u64::from(count) * entry > room {
            return Err(VideoError::corrupt(format!(
                "'{}' declares {count} entries but holds room for {}",
                String::from_utf8_lossy(kind),
                room / entry
            )));
        }
    }
    if let Some(trak) = trak {
        match kind {
            // QuickTime also has a data-handler hdlr inside minf; the track's
            // media type is the one directly in mdia.
            b"hdlr" if parent == b"mdia" => trak.handler = fourcc(payload, 8),
            b"stsd" if trak.sample_entry.is_none() => trak.sample_entry = fourcc(payload, 12),
            _ => {}
        }
    }
    Ok(())
}

/// Duration in seconds from an mvhd payload (versions 0 and 1); `None` if
/// unknown (all ones), unreadable or with a zero timescale.
fn mvhd_duration(payload: &[u8]) -> Option<f64> {
    let (timescale, duration) = if payload.first() == Some(&1) {
        let hi = be_u32(payload, 24)?;
        let lo = be_u32(payload, 28)?;
        (be_u32(payload, 20)?, (u64::from(hi) << 32) | u64::from(lo))
    } else {
        let duration = match be_u32(payload, 16)? {
            u32::MAX => u64::MAX,
            d => u64::from(d),
        };
        (be_u32(payload, 12)?, duration)
    };
    (timescale > 0 && duration != u64::MAX).then(|| duration as f64 / f64::from(timescale))
}

fn short_box(kind: &[u8; 4]) -> VideoError {
    VideoError::corrupt(format!(
        "'{}' box is too short",
        String::from_utf8_lossy(kind)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn oversized_table_count_is_refused() {
        // stts claiming 2^32-1 entries in a 16-byte payload.
        let mut stts = vec![0, 0, 0, 0];
        stts.extend_from_slice(&u32::MAX.to_be_bytes());
        stts.extend_from_slice(&[0; 8]);
        let stbl = boxed(b"stbl", &boxed(b"stts", &stts));
        let moov = boxed(b"moov", &boxed(b"trak", &stbl));
        let err = scan(&moov).unwrap_err();
        assert!(matches!(err, VideoError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn cut_moov_is_truncated_and_junk_is_not_mp4() {
        let moov = boxed(b"moov", &[0; 32]);
        assert_eq!(scan(&moov[..20]).unwrap_err(), VideoError::Truncated);
        assert!(matches!(
            scan(b"GIF89a and more bytes").unwrap_err(),
            VideoError::NotMp4 { .. }
        ));
    }

    #[test]
    fn child_overrunning_parent_is_corrupt() {
        let mut trak = boxed(b"trak", &[0; 8]);
        trak[3] = 200; // trak claims 200 bytes inside a 16-byte moov body
        let moov = boxed(b"moov", &trak);
        assert!(matches!(
            scan(&moov).unwrap_err(),
            VideoError::Corrupt { .. }
        ));
    }
}
