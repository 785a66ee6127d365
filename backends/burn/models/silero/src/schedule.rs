//! The order in which the chunks of several clips go through the model.
//!
//! All clips advance one chunk per time step, as one batch. Clips are ranked longest first, so
//! the clips that still have a chunk at any step are always a prefix of that ranking: as clips
//! run out, the batch (and the LSTM state) is simply cut short, never gathered.

use std::ops::Range;

use crate::framing::chunk_count;

/// Clips ranked by chunk count, longest first.
pub(crate) struct ClipSchedule {
    /// Clip indices (positions in the caller's slice), longest first.
    order: Vec<usize>,
    /// Chunk count of each ranked clip, non-increasing.
    chunk_counts: Vec<usize>,
}

impl ClipSchedule {
    /// Ranks clips of the given sample counts; ties keep the caller's order.
    pub(crate) fn new(clip_samples: impl IntoIterator<Item = usize>) -> Self {
        let counts: Vec<usize> = clip_samples.into_iter().map(chunk_count).collect();
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by_key(|&clip| std::cmp::Reverse(counts[clip]));
        let chunk_counts = order.iter().map(|&clip| counts[clip]).collect();
        Self {
            order,
            chunk_counts,
        }
    }

    /// Number of time steps: the longest clip's chunk count.
    pub(crate) fn steps(&self) -> usize {
        self.chunk_counts.first().copied().unwrap_or(0)
    }

    /// How many clips have a chunk at `step`; they are the first ones of [`Self::ranked`].
    pub(crate) fn active_at(&self, step: usize) -> usize {
        self.chunk_counts.partition_point(|&count| count > step)
    }

    /// The clip indices, longest first.
    pub(crate) fn ranked(&self) -> &[usize] {
        &self.order
    }

    /// Chunks processed over `steps` (model input rows of those steps).
    pub(crate) fn rows(&self, steps: Range<usize>) -> usize {
        steps.map(|step| self.active_at(step)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_longest_first_and_shrinks_the_batch() {
        // Chunk counts 1, 3, 0, 2 (512 samples per chunk).
        let schedule = ClipSchedule::new([100, 1500, 0, 1024]);
        assert_eq!(schedule.ranked(), &[1, 3, 0, 2]);
        assert_eq!(schedule.steps(), 3);
        assert_eq!(schedule.active_at(0), 3);
        assert_eq!(schedule.active_at(1), 2);
        assert_eq!(schedule.active_at(2), 1);
        assert_eq!(schedule.active_at(3), 0);
        assert_eq!(schedule.rows(0..3), 6);
        assert_eq!(schedule.rows(1..2), 2);
    }

    #[test]
    fn ties_keep_the_callers_order() {
        let schedule = ClipSchedule::new([512, 512, 512]);
        assert_eq!(schedule.ranked(), &[0, 1, 2]);
    }

    #[test]
    fn no_clips_means_no_steps() {
        let schedule = ClipSchedule::new([]);
        assert_eq!(schedule.steps(), 0);
        assert_eq!(schedule.active_at(0), 0);
    }
}
