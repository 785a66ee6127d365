//! Several keyframe runs decoded at once, on threads the caller lends: one long video's wall
//! time then falls with the cores available. Each run has its own decoder (as when decoded one
//! after another), so the frames are the same bits; they are handed back in presentation order
//! and the error, if any, is the one decoding in file order would have met first.
//!
//! Memory: decoding one run holds one decoder (its reference pictures) and one full-size RGB
//! frame, both in proportion to the picture's area, and the policy bounds that area by
//! `max_width × max_height`. Runs decoded at once are capped so that their pictures together
//! stay within that one bound: a 720p video under a 4096² policy may use 18 threads, a 4096²
//! video only one. A run that meets a larger in-band SPS than the header's stops before its
//! decoder allocates for it and is decoded again alone once the others are done.

use crate::decode::{self, Job, Kept, RunError, Shape};
use crate::error::VideoError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What decoding one run came to.
type RunOutcome<T> = Result<Kept<T>, RunError>;

/// How many runs to decode at once: no more than the threads lent, the runs there are, and the
/// pictures of `area` pixels that fit in the policy's one-picture bound.
pub(crate) fn width(threads: usize, runs: usize, area: u64, bound: u64) -> usize {
    let fit = usize::try_from(bound / area.max(1)).unwrap_or(usize::MAX);
    threads.min(runs).min(fit).max(1)
}

/// Decodes the plan's runs on `threads` threads (this one included), each picture of a run
/// at most `share` pixels; returns what [`decode::decode`] returns.
pub(crate) fn decode<T: Send>(
    job: &Job<'_>,
    threads: usize,
    share: u64,
    shape: &(dyn Shape<T> + Sync),
) -> Result<(Vec<(f64, T)>, u32), VideoError> {
    let runs = &job.plan.runs;
    let next = AtomicUsize::new(0);
    // The first run (in file order) that failed: runs after it are not started (those under way
    // finish, within the plan's decode budget, and are thrown away).
    let failed = AtomicUsize::new(usize::MAX);
    // Each run's outcome by its place in file order (`None`: not started).
    let results: Mutex<Vec<Option<RunOutcome<T>>>> =
        Mutex::new(runs.iter().map(|_| None).collect());
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(run) = runs.get(i) else { break };
            if i > failed.load(Ordering::Relaxed) {
                break;
            }
            let result = decode::decode_run(job, *run, shape, Some(share));
            if matches!(result, Err(RunError::Video(_))) {
                failed.fetch_min(i, Ordering::Relaxed);
            }
            if let Ok(mut results) = results.lock()
                && let Some(slot) = results.get_mut(i)
            {
                *slot = Some(result);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    let results = results
        .into_inner()
        .map_err(|_| VideoError::corrupt("a decoding thread failed"))?;
    let mut kept = Vec::with_capacity(runs.len());
    for (run, result) in runs.iter().zip(results) {
        match result {
            Some(Ok(frames)) => kept.push(frames),
            Some(Err(RunError::Video(error))) => return Err(error),
            // Its pictures need more than a share: decoded alone, now that the rest are done.
            Some(Err(RunError::OverShare)) => kept.push(decode::decode_alone(job, *run, shape)?),
            // Not started because an earlier run failed, which returned above.
            None => return Err(VideoError::corrupt("a run was not decoded")),
        }
    }
    decode::finish(job, kept)
}
