//! Runs a sampling plan's keyframe runs through an H.264 decoder (`codec.rs`)
//! and converts the kept pictures to RGB, labelling each with its sample's
//! presentation time and handing it straight to the caller's shaping, so only
//! one full-size frame per run being decoded is alive at a time. Runs are
//! independent (a fresh decoder each); `parallel.rs` decodes several at once.
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
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

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

/// What becomes of each wanted picture: the caller's shaping, whose result is kept instead of
/// the full-size frame.
pub(crate) trait Shape<T> {
    fn shape(&self, frame: Frame) -> Result<T, VideoError>;
}

/// The caller's `FnMut`, for decoding on this thread alone.
pub(crate) struct OneThread<'s, T>(pub RefCell<&'s mut dyn FnMut(Frame) -> Result<T, VideoError>>);

impl<T> Shape<T> for OneThread<'_, T> {
    fn shape(&self, frame: Frame) -> Result<T, VideoError> {
        (self.0.borrow_mut())(frame)
    }
}

/// The caller's `Fn + Sync`, which several runs may call at once.
pub(crate) struct Shared<'s, T>(pub &'s (dyn Fn(Frame) -> Result<T, VideoError> + Sync));

impl<T> Shape<T> for Shared<'_, T> {
    fn shape(&self, frame: Frame) -> Result<T, VideoError> {
        (self.0)(frame)
    }
}

/// Everything a run needs besides the run itself, shared by all runs of one video.
pub(crate) struct Job<'a> {
    pub bytes: &'a [u8],
    pub samples: &'a [Sample],
    pub avc: &'a AvcConfig,
    pub plan: &'a Plan,
    pub limits: DecodeLimits,
    /// Samples fed to decoders so far, over all runs.
    pub decoded: AtomicU32,
}

/// What one run kept: (sample index, presentation time, shaped frame), in the order decoded.
pub(crate) type Kept<T> = Vec<(usize, f64, T)>;

/// Why a run stopped.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The video is at fault (or the shaping failed): the sampling fails with this.
    Video(VideoError),
    /// An in-band SPS (or a picture) is larger than the share of memory this run was given
    /// when running beside others; decoded alone, it may still be fine.
    OverShare,
}

impl From<VideoError> for RunError {
    fn from(error: VideoError) -> Self {
        RunError::Video(error)
    }
}

/// Decodes `run` with nothing else running beside it (so with no share to exceed).
pub(crate) fn decode_alone<T>(
    job: &Job<'_>,
    run: Run,
    shape: &dyn Shape<T>,
) -> Result<Kept<T>, VideoError> {
    decode_run(job, run, shape, None).map_err(|error| match error {
        RunError::Video(error) => error,
        // `decode_run` reports this only for a run given a share.
        RunError::OverShare => VideoError::corrupt("a picture outgrew its run's memory share"),
    })
}

/// Decodes the plan's runs one after another on this thread; returns each wanted frame's
/// timestamp and what `shape` made of it, in presentation order, and the number of samples
/// decoded.
pub(crate) fn decode<T>(
    job: &Job<'_>,
    shape: &dyn Shape<T>,
) -> Result<(Vec<(f64, T)>, u32), VideoError> {
    let mut kept = Vec::new();
    for run in &job.plan.runs {
        kept.push(decode_alone(job, *run, shape)?);
    }
    finish(job, kept)
}

/// Checks that every wanted frame was kept and orders them by presentation time.
pub(crate) fn finish<T>(
    job: &Job<'_>,
    runs: Vec<Kept<T>>,
) -> Result<(Vec<(f64, T)>, u32), VideoError> {
    let mut kept: BTreeMap<usize, (f64, T)> = BTreeMap::new();
    for (index, secs, shaped) in runs.into_iter().flatten() {
        kept.insert(index, (secs, shaped));
    }
    if let Some(missing) = job.plan.wanted.iter().find(|i| !kept.contains_key(*i)) {
        let at = job.samples.get(*missing).map_or(0.0, |s| s.pts);
        return Err(VideoError::corrupt(format!(
            "the frame at {at:.3} s could not be decoded"
        )));
    }
    let mut frames: Vec<(f64, T)> = kept.into_values().collect();
    frames.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok((frames, job.decoded.load(Ordering::Relaxed)))
}

/// One decoder session over `run`, with a fresh decoder so that no state (or reordering) leaks
/// between runs, which is also what lets runs be decoded in any order, or at once. `share`, when
/// running beside other runs, is the most pixels a picture of this run may have.
pub(crate) fn decode_run<T>(
    job: &Job<'_>,
    run: Run,
    shape: &dyn Shape<T>,
    share: Option<u64>,
) -> Result<Kept<T>, RunError> {
    let limits = &job.limits;
    let over_share = Cell::new(false);
    let mut decoder = codec::open(limits.decoder)?;
    let mut vet_sps = |nal: &[u8]| -> Result<(), VideoError> {
        let sps = crate::sps::parse_sps(nal)?;
        check_picture(sps.width, sps.height, limits)?;
        if share.is_some_and(|share| u64::from(sps.width) * u64::from(sps.height) > share) {
            // Refused before the decoder allocates for it; the caller decodes the run alone.
            over_share.set(true);
            return Err(VideoError::corrupt("over this run's share"));
        }
        Ok(())
    };
    let mut packet = Vec::new();
    let mut fed = 0usize;
    let mut matcher = Matcher {
        samples: job.samples,
        plan: job.plan,
        limits,
        shape,
        share,
        over_share: &over_share,
        kept: Vec::new(),
        pending: BTreeSet::new(),
    };
    let shared_out = |error: VideoError| {
        if over_share.get() {
            RunError::OverShare
        } else {
            RunError::Video(error)
        }
    };
    for index in run.start..=run.end {
        let sample = job
            .samples
            .get(index)
            .ok_or_else(|| VideoError::corrupt("sample index out of range"))?;
        let data = job
            .bytes
            .get(sample.range.clone())
            .ok_or(VideoError::Truncated)?;
        // A picture nothing refers to and nobody asked for (most B-frames:
        // about half of a typical stream) is not worth decoding.
        if !job.plan.wanted.contains(&index) && avc::is_disposable(data, job.avc.length_size) {
            continue;
        }
        let decoded = job.decoded.fetch_add(1, Ordering::Relaxed) + 1;
        fed += 1;
        if decoded > limits.max_decoded_frames {
            return Err(RunError::Video(VideoError::TooManyFrames {
                needed: u64::from(decoded),
                limit: limits.max_decoded_frames,
            }));
        }
        packet.clear();
        if fed == 1 {
            // The decoder needs the parameter sets before the first slice.
            for sps in &job.avc.sps {
                avc::append_parameter_set(sps, &mut packet);
            }
            for pps in &job.avc.pps {
                avc::append_parameter_set(pps, &mut packet);
            }
        }
        avc::append_annex_b(data, job.avc.length_size, &mut packet, &mut vet_sps)
            .map_err(shared_out)?;
        matcher.pending.insert((sample.pts_ticks, index));
        decoder
            .feed(&packet, index, &mut matcher)
            .map_err(|e| shared_out(located(e, Some(sample.pts))))?;
    }
    decoder
        .finish(&mut matcher)
        .map_err(|e| shared_out(located(e, None)))?;
    // Every coded frame fed yields one picture; if one went missing, the
    // later pictures of this run may have been paired with the wrong
    // timestamps.
    if !matcher.pending.is_empty() {
        return Err(RunError::Video(VideoError::corrupt(format!(
            "{} of {} frames produced no picture",
            matcher.pending.len(),
            fed
        ))));
    }
    Ok(matcher.kept)
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
struct Matcher<'a, T> {
    samples: &'a [Sample],
    plan: &'a Plan,
    limits: &'a DecodeLimits,
    shape: &'a dyn Shape<T>,
    share: Option<u64>,
    over_share: &'a Cell<bool>,
    kept: Kept<T>,
    /// Samples fed but not yet returned, as (presentation time, index).
    pending: BTreeSet<(i64, usize)>,
}

impl<T> PictureSink for Matcher<'_, T> {
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
        if self
            .share
            .is_some_and(|share| (width * height) as u64 > share)
        {
            self.over_share.set(true);
            return Err(VideoError::corrupt("over this run's share"));
        }
        // Both sides are at most 16384 here, so this cannot overflow.
        let mut rgb = vec![0u8; width * height * 3];
        picture.write_rgb8(&mut rgb)?;
        let timestamp_secs = self.samples.get(index).map_or(0.0, |s| s.pts);
        let shaped = self.shape.shape(Frame {
            timestamp_secs,
            width: w32,
            height: h32,
            rgb,
        })?;
        self.kept.push((index, timestamp_secs, shaped));
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
