//! Sampling plan: which timestamps to take, which coded frames show them,
//! and the cheapest decode runs (keyframe to last needed frame) to get them.

use crate::Sampling;
use crate::demux::Sample;
use std::collections::BTreeSet;

/// Slack when comparing a target time with a frame's presentation time, so
/// that a target landing exactly on a frame boundary picks that frame
/// despite float rounding.
const EPSILON_SECS: f64 = 1e-6;

/// One decoder session: feed samples `start..=end` (decode order), then
/// flush. `start` is a sync sample (or the first sample of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// First sample fed.
    pub start: usize,
    /// Last sample fed (inclusive): the last wanted frame of the run.
    pub end: usize,
}

/// What to decode and what to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Decode-order indices of the frames to return.
    pub wanted: BTreeSet<usize>,
    /// Decoder sessions, in file order, not overlapping.
    pub runs: Vec<Run>,
}

impl Plan {
    /// Samples the plan feeds to the decoder in total.
    pub(crate) fn cost(&self) -> u64 {
        self.runs.iter().map(|r| (r.end - r.start + 1) as u64).sum()
    }
}

/// Target timestamps in seconds, ascending, within `[0, duration)`.
///
/// `Fps(f)` takes `0, 1/f, 2/f, …`; if that would exceed `max_frames`, or
/// with `Frames(n)`, the duration is cut into `n` (at most `max_frames`)
/// equal spans and the middle of each is taken, which avoids the often
/// black first frame and the very end. `max_frames` must be at least 1 and
/// `f` positive (the policy is validated before this runs).
pub(crate) fn targets(sampling: Sampling, max_frames: u32, duration: f64) -> Vec<f64> {
    let duration = duration.max(0.0);
    let max_frames = max_frames.max(1);
    let count = match sampling {
        Sampling::Fps(fps) => {
            // Number of k >= 0 with k / fps < duration (at least one).
            let n = (duration * fps - EPSILON_SECS).ceil().max(1.0);
            if n <= f64::from(max_frames) {
                // `n` is a small positive integer here.
                return (0..n as u32).map(|k| f64::from(k) / fps).collect();
            }
            max_frames
        }
        Sampling::Frames(n) => n.clamp(1, max_frames),
    };
    let span = duration / f64::from(count);
    (0..count).map(|k| (f64::from(k) + 0.5) * span).collect()
}

/// Maps targets to the frames displayed at those times and groups them into
/// decode runs that start at the nearest preceding sync sample.
pub(crate) fn plan(samples: &[Sample], targets: &[f64]) -> Plan {
    // Frames in presentation order, leaving out those an edit list cuts
    // (negative times) unless that would leave nothing.
    let mut shown: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].pts >= -EPSILON_SECS)
        .collect();
    if shown.is_empty() {
        shown = (0..samples.len()).collect();
    }
    shown.sort_by_key(|&i| (samples[i].pts_ticks, i));

    let mut wanted = BTreeSet::new();
    for &t in targets {
        // The frame on screen at `t`: the last one starting at or before it
        // (the first frame for targets before it).
        let after = shown.partition_point(|&i| samples[i].pts <= t + EPSILON_SECS);
        if let Some(&index) = shown.get(after.saturating_sub(1)) {
            wanted.insert(index);
        }
    }

    let syncs: Vec<usize> = (0..samples.len()).filter(|&i| samples[i].sync).collect();
    let mut runs: Vec<Run> = Vec::new();
    for &index in &wanted {
        // Latest sync sample at or before the frame; none means the file
        // starts without one, and decoding from the top is all we can do.
        let before = syncs.partition_point(|&s| s <= index);
        let start = before.checked_sub(1).map_or(0, |k| syncs[k]);
        match runs.last_mut() {
            // Carrying on from the current run is no dearer than restarting
            // at a keyframe the run has already passed.
            Some(run) if start <= run.end => run.end = index,
            _ => runs.push(Run { start, end: index }),
        }
    }
    Plan { wanted, runs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(frames: usize, gop: usize) -> Vec<Sample> {
        (0..frames)
            .map(|i| Sample {
                range: 0..1,
                pts_ticks: i as i64,
                pts: i as f64 / 10.0,
                sync: i % gop == 0,
            })
            .collect()
    }

    #[test]
    fn fps_targets_start_at_zero_and_respect_the_cap() {
        assert_eq!(targets(Sampling::Fps(1.0), 10, 3.0), vec![0.0, 1.0, 2.0]);
        assert_eq!(targets(Sampling::Fps(2.0), 10, 1.2), vec![0.0, 0.5, 1.0]);
        // 30 frames wanted, 3 allowed: spread like Frames(3).
        assert_eq!(targets(Sampling::Fps(10.0), 3, 3.0), vec![0.5, 1.5, 2.5]);
        assert_eq!(targets(Sampling::Frames(4), 2, 2.0), vec![0.5, 1.5]);
    }

    #[test]
    fn runs_start_at_keyframes_and_stop_at_the_last_wanted_frame() {
        // 30 frames at 10 fps, keyframe every 10 frames.
        let samples = clip(30, 10);
        let p = plan(&samples, &[0.5, 1.5, 1.7]);
        assert_eq!(p.wanted, BTreeSet::from([5, 15, 17]));
        assert_eq!(
            p.runs,
            vec![Run { start: 0, end: 5 }, Run { start: 10, end: 17 }]
        );
        assert_eq!(p.cost(), 14);
    }

    #[test]
    fn duplicate_targets_share_a_frame() {
        let p = plan(&clip(10, 10), &[0.0, 0.01, 0.02]);
        assert_eq!(p.wanted, BTreeSet::from([0]));
        assert_eq!(p.cost(), 1);
    }
}
