//! Keyframe runs decoded at once: the same frames, bit for bit, in the same order, the same
//! report and the same first error as decoding them one after another, with no more runs at once
//! than the threads lent and the policy's memory bound allow.

use super::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const CLIPS: [&str; 5] = [
    "colors_baseline.mp4",
    "colors_main.mov",
    "ramp_high_bframes.mp4",
    "ramp_open_gop.mp4",
    "with_audio.mp4",
];

fn sequential(bytes: &[u8], policy: &VideoPolicy) -> (Vec<Frame>, VideoReport) {
    sample_frames(bytes, policy).unwrap()
}

#[test]
fn frames_are_the_same_bits_in_the_same_order_whatever_the_threads() {
    for name in CLIPS {
        let bytes = clip(name);
        for sampling in [Sampling::Fps(4.0), Sampling::Fps(1.0), Sampling::Frames(5)] {
            let policy = policy(sampling);
            let (want, want_report) = sequential(&bytes, &policy);
            for threads in [1, 2, 3, 8] {
                let (got, report) =
                    sample_frames_parallel(&bytes, &policy, threads, &|frame| Ok(frame)).unwrap();
                assert_eq!(
                    report, want_report,
                    "{name} {sampling:?} on {threads} threads"
                );
                assert!(
                    got == want,
                    "{name} {sampling:?} on {threads} threads: frames differ"
                );
            }
        }
    }
}

/// Samples `bytes` on `threads` threads with a shaping that lingers, and returns the most
/// shapings that overlapped.
fn most_at_once(bytes: &[u8], policy: &VideoPolicy, threads: usize) -> usize {
    let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let shape = |frame: Frame| {
        let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(at_once, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        now.fetch_sub(1, Ordering::SeqCst);
        Ok(frame.timestamp_secs)
    };
    let (times, report) = sample_frames_parallel(bytes, policy, threads, &shape).unwrap();
    assert_eq!(times, report.sampled);
    most.load(Ordering::SeqCst)
}

#[test]
fn runs_at_once_are_bounded_by_threads_and_memory() {
    // Keyframes every 10 frames (a third of a second): sampling 4 fps makes 12 runs.
    let bytes = clip("colors_baseline.mp4");
    let info = probe(&bytes).unwrap();
    let policy = policy(Sampling::Fps(4.0));
    assert_eq!(most_at_once(&bytes, &policy, 1), 1);
    let two = most_at_once(&bytes, &policy, 2);
    assert!(two <= 2, "{two} at once on 2 threads");
    assert!(most_at_once(&bytes, &policy, 3) <= 3);
    // A policy that allows pictures of 1.5 times this one's area leaves room for one run.
    let tight = VideoPolicy {
        max_width: info.width,
        max_height: info.height * 3 / 2,
        ..policy.clone()
    };
    assert_eq!(most_at_once(&bytes, &tight, 4), 1);
    // Twice the area: two at once at most, however many threads are lent.
    let double = VideoPolicy {
        max_width: info.width * 2,
        max_height: info.height,
        ..policy
    };
    assert!(most_at_once(&bytes, &double, 8) <= 2);
}

#[test]
fn the_threads_lent_are_used() {
    // On one core the threads still overlap while the shaping sleeps.
    let bytes = clip("colors_baseline.mp4");
    let policy = policy(Sampling::Fps(4.0));
    let threads = Mutex::new(std::collections::HashSet::new());
    let shape = |_: Frame| {
        if let Ok(mut threads) = threads.lock() {
            threads.insert(std::thread::current().id());
        }
        std::thread::sleep(Duration::from_millis(30));
        Ok(())
    };
    sample_frames_parallel(&bytes, &policy, 3, &shape).unwrap();
    let used = threads.lock().unwrap().len();
    assert!((2..=3).contains(&used), "{used} threads shaped frames");
}

#[test]
fn the_first_error_in_file_order_is_the_one_reported() {
    // Shaping fails on two frames of different runs: as decoding in order would, the parallel
    // sampler reports the earlier one, however the runs were scheduled.
    let bytes = clip("colors_baseline.mp4");
    let policy = policy(Sampling::Fps(4.0));
    let fail_at = |frame: &Frame| {
        let t = frame.timestamp_secs;
        if (1.0..1.3).contains(&t) || (2.5..2.8).contains(&t) {
            Err(VideoError::Shaping {
                reason: format!("{t:.3}"),
            })
        } else {
            Ok(())
        }
    };
    let want = sample_frames_shaped(&bytes, &policy, &mut |frame| fail_at(&frame)).unwrap_err();
    assert!(matches!(want, VideoError::Shaping { .. }), "{want:?}");
    for threads in [2, 3, 8] {
        for _ in 0..5 {
            let got = sample_frames_parallel(&bytes, &policy, threads, &|frame| fail_at(&frame))
                .unwrap_err();
            assert_eq!(got, want, "on {threads} threads");
        }
    }
}

#[test]
fn memory_share_arithmetic() {
    use crate::parallel::width;
    let p720 = 1280 * 720;
    assert_eq!(width(2, 60, p720, 4096 * 4096), 2);
    assert_eq!(width(32, 60, p720, 4096 * 4096), 18);
    assert_eq!(width(8, 3, p720, 4096 * 4096), 3);
    assert_eq!(width(8, 60, 4096 * 4096, 4096 * 4096), 1);
    assert_eq!(width(0, 60, p720, 4096 * 4096), 1);
}
