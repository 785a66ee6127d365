//! MP4/MOV demuxing: the video track's header facts, the refusals that can
//! be made from the header alone, and the sample table with presentation
//! timestamps.
//!
//! The box tree is first pre-scanned by `boxes` (bounds, codec fourcc);
//! mp4parse then parses only the moov box, so mdat is never walked.

use crate::VideoInfo;
use crate::avc::{self, ABSOLUTE_MAX_SIDE, AvcConfig};
use crate::boxes;
use crate::error::VideoError;
use crate::sps::{self, SpsInfo};
use mp4parse::unstable::{CheckedInteger, create_sample_table};
use mp4parse::{CodecType, SampleEntry, Track, TrackType, VideoCodecSpecific};
use std::io::Cursor;
use std::ops::Range;

/// Frame rates above this are taken as a hostile sample table.
const MAX_FPS: f64 = 1000.0;

/// Header limits to refuse against; `probe` passes only absolute ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderLimits {
    /// Widest picture accepted.
    pub max_width: u32,
    /// Tallest picture accepted.
    pub max_height: u32,
    /// Longest declared duration accepted, in seconds.
    pub max_seconds: f64,
}

/// One video sample (coded frame), in decode order.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// Byte range of the AVCC-framed sample in the input (checked in bounds).
    pub range: Range<usize>,
    /// Presentation time in track ticks, edit list applied: the sort key.
    pub pts_ticks: i64,
    /// Presentation time in seconds (negative: cut by the edit list).
    pub pts: f64,
    /// A sync sample per stss that also holds an IDR picture: decoding may
    /// start here.
    pub sync: bool,
}

/// A parsed, header-vetted video track.
#[derive(Debug)]
pub(crate) struct Demuxed {
    /// What the header says, for reports.
    pub info: VideoInfo,
    /// SPS/PPS and NAL length size from avcC.
    pub avc: AvcConfig,
    track: Track,
    timescale: u64,
    /// Ticks subtracted from composition times (the edit's media_time)...
    media_time: i64,
    /// ...and ticks added after (an initial empty edit), in track timescale.
    empty_ticks: i64,
}

/// Parses the header of `bytes` and applies every refusal that needs no
/// decoding: structure, codec, picture size, duration, sample counts.
pub(crate) fn open(bytes: &[u8], limits: &HeaderLimits) -> Result<Demuxed, VideoError> {
    let layout = boxes::scan(bytes)?;
    if layout.fragmented {
        return Err(VideoError::unsupported("fragmented MP4 (moof fragments)"));
    }
    let video_index = layout
        .traks
        .iter()
        .position(|t| t.handler == Some(*b"vide"))
        .ok_or(VideoError::NoVideoTrack)?;
    match layout.traks.get(video_index).and_then(|t| t.sample_entry) {
        Some(entry) if &entry == b"avc1" || &entry == b"avc3" => {}
        Some(entry) => {
            return Err(VideoError::UnsupportedCodec {
                codec: String::from_utf8_lossy(&entry).trim().to_owned(),
            });
        }
        None => {
            return Err(VideoError::corrupt(
                "the video track has no sample description",
            ));
        }
    }

    let moov = bytes.get(layout.moov.clone()).unwrap_or_default();
    let mut context = mp4parse::read_mp4(&mut Cursor::new(moov)).map_err(parse_error)?;
    let movie_timescale = context.timescale.map(|t| t.0);
    let has_audio = context
        .tracks
        .iter()
        .any(|t| t.track_type == TrackType::Audio);
    if context.tracks.len() != layout.traks.len() {
        return Err(VideoError::corrupt("track boxes could not all be parsed"));
    }
    let track = context
        .tracks
        .as_mut_slice()
        .get_mut(video_index)
        .map(std::mem::take)
        .ok_or(VideoError::NoVideoTrack)?;

    let (entry_width, entry_height, avc) = sample_entry(&track)?;
    check_size(entry_width, entry_height, limits)?;
    let mut sps_info = None;
    for set in &avc.sps {
        let info = sps::parse_sps(set)?;
        check_size(info.width, info.height, limits)?;
        sps_info.get_or_insert(info);
    }
    if let Some(tkhd) = &track.tkhd {
        // tkhd holds the display size in 16.16 fixed point; it sizes nothing
        // we allocate, so only nonsense is refused.
        check_size(
            (tkhd.width >> 16).max(1),
            (tkhd.height >> 16).max(1),
            &HeaderLimits {
                max_width: ABSOLUTE_MAX_SIDE,
                max_height: ABSOLUTE_MAX_SIDE,
                ..*limits
            },
        )?;
    }

    let timescale = track
        .timescale
        .map(|t| t.0)
        .filter(|t| *t > 0)
        .ok_or_else(|| VideoError::corrupt("the video track has no timescale"))?;
    let (duration_secs, media_time, empty_ticks) = timing(&track, timescale, movie_timescale)?;
    // Refuse on any declared duration over the limit: the movie's (longest
    // track), the track's presentation span, or its media span.
    let media_secs = track
        .duration
        .map_or(0.0, |d| d.0 as f64 / timescale as f64);
    let longest = duration_secs
        .max(media_secs)
        .max(layout.movie_duration_secs.unwrap_or(0.0));
    if longest > limits.max_seconds {
        return Err(VideoError::TooLong {
            secs: longest,
            limit: limits.max_seconds,
        });
    }
    let frame_count = sample_count(&track, bytes.len(), duration_secs)?;

    let (width, height) = sps_info.map_or((entry_width, entry_height), |s| (s.width, s.height));
    let profile = sps_info.as_ref().map_or("unknown", SpsInfo::profile_name);
    Ok(Demuxed {
        info: VideoInfo {
            container: if layout.brand == Some(*b"qt  ") {
                "mov"
            } else {
                "mp4"
            }
            .to_owned(),
            codec: "h264".to_owned(),
            profile: profile.to_owned(),
            width,
            height,
            duration_secs,
            frame_count,
            has_audio,
        },
        avc,
        track,
        timescale,
        media_time,
        empty_ticks,
    })
}

/// The avc1/avc3 sample entry's coded size and decoder configuration.
fn sample_entry(track: &Track) -> Result<(u32, u32, AvcConfig), VideoError> {
    let descriptions = track
        .stsd
        .as_ref()
        .map(|s| s.descriptions.as_slice())
        .unwrap_or_default();
    let Some(SampleEntry::Video(entry)) = descriptions.first() else {
        return Err(VideoError::corrupt(
            "the video sample description is unreadable",
        ));
    };
    let (CodecType::H264, VideoCodecSpecific::AVCConfig(record)) =
        (entry.codec_type, &entry.codec_specific)
    else {
        return Err(VideoError::corrupt(
            "the avc1 sample entry has no avcC configuration",
        ));
    };
    let avc = avc::parse_avcc(record.as_slice())?;
    Ok((u32::from(entry.width), u32::from(entry.height), avc))
}

/// Refuses empty, absurd and over-limit picture sizes.
fn check_size(width: u32, height: u32, limits: &HeaderLimits) -> Result<(), VideoError> {
    if width == 0 || height == 0 {
        return Err(VideoError::corrupt(format!(
            "the video declares a {width}x{height} picture"
        )));
    }
    let max_width = limits.max_width.min(ABSOLUTE_MAX_SIDE);
    let max_height = limits.max_height.min(ABSOLUTE_MAX_SIDE);
    if width > max_width || height > max_height {
        return Err(VideoError::TooLarge {
            width,
            height,
            max_width,
            max_height,
        });
    }
    Ok(())
}

/// Presentation duration in seconds and the edit-list shift, from the header.
///
/// Only the simple edit lists mp4parse understands are applied: an optional
/// initial empty edit followed by one media edit.
fn timing(
    track: &Track,
    timescale: u64,
    movie_timescale: Option<u64>,
) -> Result<(f64, i64, i64), VideoError> {
    let media_time = track.media_time.map_or(0, |t| t.0);
    let media_time = i64::try_from(media_time)
        .map_err(|_| VideoError::corrupt("edit list media time overflows"))?;
    let (empty_secs, edited_secs) =
        match (movie_timescale.filter(|t| *t > 0), track.edited_duration) {
            (Some(mts), Some(edited)) if edited.0 > 0 => {
                let empty = track.empty_duration.map_or(0, |e| e.0);
                (
                    empty as f64 / mts as f64,
                    Some(edited.0 as f64 / mts as f64),
                )
            }
            _ => (0.0, None),
        };
    let media_secs = track.duration.map(|d| d.0 as f64 / timescale as f64);
    let declared = edited_secs
        .map(|e| e + empty_secs)
        .or(media_secs)
        .filter(|d| *d > 0.0)
        // No usable header duration: sum the time-to-sample table instead.
        .unwrap_or_else(|| stts_ticks(track) as f64 / timescale as f64);
    let empty_ticks = (empty_secs * timescale as f64).round();
    if !declared.is_finite() || !empty_ticks.is_finite() || empty_ticks > 1e15 {
        return Err(VideoError::corrupt("the declared duration is not a number"));
    }
    Ok((declared, media_time, empty_ticks as i64))
}

/// Sum of all stts sample deltas, saturating.
fn stts_ticks(track: &Track) -> u64 {
    track.stts.as_ref().map_or(0, |stts| {
        stts.samples.iter().fold(0u64, |acc, s| {
            acc.saturating_add(u64::from(s.sample_count).saturating_mul(u64::from(s.sample_delta)))
        })
    })
}

/// The number of samples mp4parse's sample-table builder will produce,
/// computed from the stsc runs without materialising them, and refused if
/// absurd for the duration or for the input's size.
fn sample_count(track: &Track, input_len: usize, duration_secs: f64) -> Result<u64, VideoError> {
    let (Some(stsc), Some(stco), Some(stsz)) = (&track.stsc, &track.stco, &track.stsz) else {
        return Err(VideoError::corrupt("the video track lacks a sample table"));
    };
    if stsc.samples.iter().any(|e| e.sample_description_index != 1) {
        return Err(VideoError::unsupported(
            "several sample descriptions in one track",
        ));
    }
    // Mirrors mp4parse's SampleToChunkIterator: each stsc run covers chunks
    // up to the next run's first chunk (the last run: all chunks left);
    // iteration stops at an empty run or when chunks run out.
    let entries = stsc.samples.as_slice();
    let mut remaining = stco.offsets.len() as u64;
    let mut total = 0u64;
    let mut i = 0;
    while let Some(entry) = entries.get(i) {
        i += 1;
        let next = entries.get(i);
        if next.is_some_and(|n| n.first_chunk == entry.first_chunk) {
            continue;
        }
        let chunks = match next {
            _ if entry.first_chunk == 0 => 0,
            Some(n) if n.first_chunk > 0 => {
                u64::from(n.first_chunk.saturating_sub(entry.first_chunk))
            }
            Some(_) => 0,
            None => remaining,
        };
        if chunks == 0 || chunks > remaining {
            break;
        }
        remaining -= chunks;
        total = total.saturating_add(chunks.saturating_mul(u64::from(entry.samples_per_chunk)));
    }
    if total == 0 {
        return Err(VideoError::corrupt("the video track has no frames"));
    }
    let plausible = (duration_secs.max(0.0) * MAX_FPS).ceil() as u64 + 1;
    if total > plausible {
        return Err(VideoError::corrupt(format!(
            "{total} frames declared for {duration_secs:.1} s of video"
        )));
    }
    let bytes_needed = if stsz.sample_size > 0 {
        total.saturating_mul(u64::from(stsz.sample_size))
    } else if stsz.sample_sizes.len() as u64 != total {
        return Err(VideoError::corrupt("sample size and chunk tables disagree"));
    } else {
        total
    };
    if bytes_needed > input_len as u64 {
        return Err(VideoError::corrupt(
            "the sample table describes more data than the file holds",
        ));
    }
    Ok(total)
}

impl Demuxed {
    /// Builds the sample table (decode order) with presentation times,
    /// checks every sample lies inside `bytes`, and keeps the sync flag only
    /// on samples that really start with an IDR picture.
    pub(crate) fn samples(&self, bytes: &[u8]) -> Result<Vec<Sample>, VideoError> {
        let input_len = bytes.len();
        let table = create_sample_table(&self.track, CheckedInteger(0))
            .ok_or_else(|| VideoError::corrupt("inconsistent sample tables"))?;
        let mut samples = Vec::with_capacity(table.len());
        for indice in table.iter() {
            let start = usize::try_from(indice.start_offset.0).unwrap_or(usize::MAX);
            let end = usize::try_from(indice.end_offset.0).unwrap_or(usize::MAX);
            if end > input_len {
                return Err(VideoError::Truncated);
            }
            if start >= end {
                return Err(VideoError::corrupt("a sample has no bytes"));
            }
            let pts_ticks = indice
                .start_composition
                .0
                .checked_sub(self.media_time)
                .and_then(|t| t.checked_add(self.empty_ticks))
                .ok_or_else(|| VideoError::corrupt("presentation time overflows"))?;
            let data = bytes.get(start..end).unwrap_or_default();
            samples.push(Sample {
                range: start..end,
                pts_ticks,
                pts: pts_ticks as f64 / self.timescale as f64,
                sync: indice.sync && avc::is_idr(data, self.avc.length_size),
            });
        }
        Ok(samples)
    }
}

/// Maps mp4parse's errors onto client-facing ones. The moov was already
/// found complete, so running out of bytes means a box inside it lied.
fn parse_error(err: mp4parse::Error) -> VideoError {
    match err {
        mp4parse::Error::Unsupported(what) => VideoError::unsupported(what),
        mp4parse::Error::InvalidData(status) => {
            VideoError::corrupt(format!("invalid movie header ({status:?})"))
        }
        mp4parse::Error::UnexpectedEOF | mp4parse::Error::Io(_) => {
            VideoError::corrupt("a box inside the movie header overruns it")
        }
        mp4parse::Error::MoovMissing => VideoError::corrupt("no moov box"),
        mp4parse::Error::OutOfMemory => VideoError::corrupt("movie header tables too large"),
    }
}
