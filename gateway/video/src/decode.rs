//! Runs a sampling plan through an H.264 decoder (`codec.rs`) and converts
//! the kept pictures to RGB, labelling each with its sample's presentation
//! time and handing it straight to the caller's shaping, so only one
//! full-size frame is alive at a time.
//!
//! FFmpeg carries each sample's tag through to its picture. OpenH264 does
//! not: it returns pictures in presentation order (with a reorder delay for
//! B-frames), so each of its pictures is matched to the earliest-presented
//! sample fed and not yet returned: a decoder only emits a picture once every
//! earlier one has been emitted. A picture that never arrives is an error
//! rather than a silent shift.

use crate::Frame;
use crate::avc::{self, AvcConfig};
use crate::codec::{self, Picture, PictureSink};
use crate::demux::Sample;
use crate::error::VideoError;
use crate::sample::{Plan, Run};
use std::collections::{BTreeMap, BTreeSet};

/// Bounds applied while decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeLimits {
    /// Widest picture accepted (SPS checks and decoded pictures).
    pub max_width: u32,
    /// Tallest picture accepted.
    pub max_height: u32,
    /// Most samples fed to the decoder, over all runs.
    pub max_decoded_frames: u32,
    /// Which decoder to run.
    pub decoder: codec::Kind,
}

/// What becomes of each wanted picture: converted to a [`Frame`] and handed
/// at once to `shape`, whose result is kept (by sample index) instead of
/// the full-size frame.
pub(crate) struct Keeper<'s, T> {
    pub shape: &'s mut dyn FnMut(Frame) -> Result<T, VideoError>,
    kept: BTreeMap<usize, (f64, T)>,
}

impl<'s, T> Keeper<'s, T> {
    pub(crate) fn new(shape: &'s mut dyn FnMut(Frame) -> Result<T, VideoError>) -> Self {
        Self {
            shape,
            kept: BTreeMap::new(),
        }
    }
}

/// Decodes the plan's runs; returns each wanted frame's timestamp and what
/// `keeper` made of it, in presentation order, and the number of samples
/// decoded.
pub(crate) fn decode<T>(
    bytes: &[u8],
    samples: &[Sample],
    avc: &AvcConfig,
    plan: &Plan,
    limits: &DecodeLimits,
    mut keeper: Keeper<'_, T>,
) -> Result<(Vec<(f64, T)>, u32), VideoError> {
    let mut decoded = 0u32;
    for run in &plan.runs {
        decode_run(
            bytes,
            samples,
            avc,
            plan,
            *run,
            limits,
            &mut decoded,
            &mut keeper,
        )?;
    }
    if let Some(missing) = plan.wanted.iter().find(|i| !keeper.kept.contains_key(*i)) {
        let at = samples.get(*missing).map_or(0.0, |s| s.pts);
        return Err(VideoError::corrupt(format!(
            "the frame at {at:.3} s could not be decoded"
        )));
    }
    let mut frames: Vec<(f64, T)> = keeper.kept.into_values().collect();
    frames.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok((frames, decoded))
}

/// One decoder session over `run`, with a fresh decoder so that no state
/// (or reordering) leaks between runs.
#[allow(clippy::too_many_arguments)] // private plumbing, called once
fn decode_run<T>(
    bytes: &[u8],
    samples: &[Sample],
    avc: &AvcConfig,
    plan: &Plan,
    run: Run,
    limits: &DecodeLimits,
    decoded: &mut u32,
    keeper: &mut Keeper<'_, T>,
) -> Result<(), VideoError> {
    let mut decoder = codec::open(limits.decoder)?;
    let mut vet_sps = |nal: &[u8]| -> Result<(), VideoError> {
        let sps = crate::sps::parse_sps(nal)?;
        check_picture(sps.width, sps.height, limits)
    };
    let mut packet = Vec::new();
    let mut fed = 0usize;
    let mut matcher = Matcher {
        samples,
        plan,
        limits,
        keeper,
        pending: BTreeSet::new(),
    };
    for index in run.start..=run.end {
        let sample = samples
            .get(index)
            .ok_or_else(|| VideoError::corrupt("sample index out of range"))?;
        let data = bytes
            .get(sample.range.clone())
            .ok_or(VideoError::Truncated)?;
        // A picture nothing refers to and nobody asked for (most B-frames:
        // about half of a typical stream) is not worth decoding.
        if !plan.wanted.contains(&index) && avc::is_disposable(data, avc.length_size) {
            continue;
        }
        *decoded += 1;
        fed += 1;
        if *decoded > limits.max_decoded_frames {
            return Err(VideoError::TooManyFrames {
                needed: u64::from(*decoded),
                limit: limits.max_decoded_frames,
            });
        }
        packet.clear();
        if fed == 1 {
            // The decoder needs the parameter sets before the first slice.
            for sps in &avc.sps {
                avc::append_parameter_set(sps, &mut packet);
            }
            for pps in &avc.pps {
                avc::append_parameter_set(pps, &mut packet);
            }
        }
        avc::append_annex_b(data, avc.length_size, &mut packet, &mut vet_sps)?;
        matcher.pending.insert((sample.pts_ticks, index));
        decoder
            .feed(&packet, index, &mut matcher)
            .map_err(|e| located(e, Some(sample.pts)))?;
    }
    decoder.finish(&mut matcher).map_err(|e| located(e, None))?;
    // Every coded frame fed yields one picture; if one went missing, the
    // later pictures of this run may have been paired with the wrong
    // timestamps.
    if !matcher.pending.is_empty() {
        return Err(VideoError::corrupt(format!(
            "{} of {} frames produced no picture",
            matcher.pending.len(),
            fed
        )));
    }
    Ok(())
}

/// Says where in the video a decoding failure happened: at the sample fed
/// at `secs`, or (`None`) when the stream was ended.
fn located(error: VideoError, secs: Option<f64>) -> VideoError {
    match (error, secs) {
        (VideoError::Corrupt { reason }, Some(secs)) => {
            VideoError::corrupt(format!("{reason} (at {secs:.3} s)"))
        }
        (VideoError::Corrupt { reason }, None) => {
            VideoError::corrupt(format!("{reason} (at the end of the stream)"))
        }
        (other, _) => other,
    }
}

/// Pairs decoded pictures with samples and keeps the wanted ones.
struct Matcher<'a, 's, T> {
    samples: &'a [Sample],
    plan: &'a Plan,
    limits: &'a DecodeLimits,
    keeper: &'a mut Keeper<'s, T>,
    /// Samples fed but not yet returned, as (presentation time, index).
    pending: BTreeSet<(i64, usize)>,
}

impl<T> PictureSink for Matcher<'_, '_, T> {
    fn picture(&mut self, tag: Option<usize>, picture: &dyn Picture) -> Result<(), VideoError> {
        let index = match tag {
            Some(index) => {
                let was_pending = self
                    .samples
                    .get(index)
                    .is_some_and(|sample| self.pending.remove(&(sample.pts_ticks, index)));
                if !was_pending {
                    return Err(VideoError::corrupt(
                        "the decoder returned a picture for a frame it was not given",
                    ));
                }
                index
            }
            None => {
                let (_, index) = self.pending.pop_first().ok_or_else(|| {
                    VideoError::corrupt("the decoder returned more pictures than frames")
                })?;
                index
            }
        };
        if !self.plan.wanted.contains(&index) {
            return Ok(());
        }
        let (width, height) = picture.dimensions();
        let too_big = |_| VideoError::corrupt("decoded picture size overflows");
        let (w32, h32) = (
            u32::try_from(width).map_err(too_big)?,
            u32::try_from(height).map_err(too_big)?,
        );
        check_picture(w32, h32, self.limits)?;
        // Both sides are at most 16384 here, so this cannot overflow.
        let mut rgb = vec![0u8; width * height * 3];
        picture.write_rgb8(&mut rgb)?;
        let timestamp_secs = self.samples.get(index).map_or(0.0, |s| s.pts);
        let shaped = (self.keeper.shape)(Frame {
            timestamp_secs,
            width: w32,
            height: h32,
            rgb,
        })?;
        self.keeper.kept.insert(index, (timestamp_secs, shaped));
        Ok(())
    }
}

/// Refuses a picture size (from an in-band SPS or a decoded picture) the
/// header checks did not cover.
fn check_picture(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), VideoError> {
    let max_width = limits.max_width.min(avc::ABSOLUTE_MAX_SIDE);
    let max_height = limits.max_height.min(avc::ABSOLUTE_MAX_SIDE);
    if width == 0 || height == 0 {
        return Err(VideoError::corrupt("a picture has no pixels"));
    }
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
