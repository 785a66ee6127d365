//! Per-item timings of the media pipelines, printed in the same format as
//! `benches/compare_python.py` so `benches/compare.sh` can put the two side by side.
//!
//! ```sh
//! cargo run --release -p omnigate-media --example media_timings -- [--dir DIR] [--only PREFIX]...
//! cargo run --release -p omnigate-media --example media_timings -- [--dir DIR] --prepare
//! ```
//!
//! Reads (and first writes, if missing) the shared inputs in `DIR` (default
//! `target/media-bench/`), runs each workload a few times untimed, then times each run and prints
//! `RESULT rust <workload> <median ms> <min ms> <runs>`. Besides the pipelines it times their
//! floors: `mp3_decode_only` (the MP3 decoded, not resampled) and `video_per_picture` (the
//! video workload's time per picture the decoder had to decode). The video workload decodes
//! its keyframe runs on as many threads as the process may use (`taskset` decides), as the
//! gateway does with its free decode slots, and also prints `video_cpu`: the CPU time per item
//! of all its threads together. It is skipped with a
//! message when its input is absent and ffmpeg cannot make it. `--prepare` only writes the
//! inputs (the video too, when ffmpeg is there) for the Python side, and times nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool should stop loudly on a broken input"
)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use omnigate_media::{normalize_audio, normalize_image};
use omnigate_video::{sample_frames, sample_frames_parallel};

/// Times `run` (after `warmup` untimed calls) `runs` times, prints the RESULT line and returns
/// the sorted times in ms.
fn time(name: &str, warmup: usize, runs: usize, mut run: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        run();
    }
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    print_result(name, &ms);
    ms
}

/// CPU time this process has used (all its threads, exited ones included), in ms, from
/// `/proc/self/stat` (utime + stime, in the kernel's fixed 100 Hz `USER_HZ` ticks).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces), from field 3 on.
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks * 10.0
}

fn print_result(name: &str, sorted_ms: &[f64]) {
    println!(
        "RESULT rust {name} {:.3} {:.3} {}",
        sorted_ms[sorted_ms.len() / 2],
        sorted_ms[0],
        sorted_ms.len()
    );
}

fn main() {
    let mut dir = common::shared_dir();
    let mut only: Vec<String> = Vec::new();
    let mut prepare = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = PathBuf::from(args.next().expect("--dir needs a folder")),
            "--only" => only.push(args.next().expect("--only needs a workload prefix")),
            "--prepare" => prepare = true,
            other => {
                eprintln!(
                    "usage: media_timings [--dir DIR] [--only PREFIX]... [--prepare]; got {other:?}"
                );
                std::process::exit(2);
            }
        }
    }
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.starts_with(o.as_str()));

    let photo = common::ensure_photo(&dir, common::PHOTO_FILE, common::photo_jpeg)
        .expect("writing the bench photo");
    let photo_420 = common::ensure_photo(&dir, common::PHOTO_420_FILE, common::photo_jpeg_420)
        .expect("writing the 4:2:0 bench photo");
    let mp3 = std::fs::read(common::mp3_path()).expect("the committed 60 s MP3");
    // Python reads the same file from the shared folder.
    std::fs::write(dir.join(common::MP3_FILE), &mp3).expect("copying the MP3");
    if prepare {
        if let Err(why) = common::ensure_video(&dir) {
            eprintln!("no video input: {why}");
        }
        return;
    }
    if wanted("jpeg_tensor_448") {
        let policy = common::tensor_policy();
        time("jpeg_tensor_448", 5, 40, || {
            black_box(normalize_image(black_box(&photo), &policy, None).unwrap());
        });
    }
    if wanted("jpeg420_tensor_448") {
        let policy = common::tensor_policy();
        time("jpeg420_tensor_448", 5, 40, || {
            black_box(normalize_image(black_box(&photo_420), &policy, None).unwrap());
        });
    }
    if wanted("jpeg_reencode_448") {
        let policy = common::jpeg_policy();
        time("jpeg_reencode_448", 5, 40, || {
            black_box(normalize_image(black_box(&photo), &policy, None).unwrap());
        });
    }
    if wanted("mp3_60s_16k_mono") {
        let policy = common::audio_policy();
        time("mp3_60s_16k_mono", 2, 15, || {
            black_box(normalize_audio(black_box(&mp3), Some("mp3"), &policy).unwrap());
        });
    }
    if wanted("mp3_decode_only") {
        // The floor under the workload above: the same decode (and trim, and copies) at the
        // file's own rate, so nothing is resampled.
        let policy = omnigate_media::AudioPolicy {
            sample_rate: 44_100,
            ..common::audio_policy()
        };
        time("mp3_decode_only", 2, 15, || {
            black_box(normalize_audio(black_box(&mp3), Some("mp3"), &policy).unwrap());
        });
    }
    if wanted("video_60s_720p_1fps") {
        match common::ensure_video(&dir) {
            Ok(path) => {
                let bytes = std::fs::read(path).expect("reading the bench video");
                let policy = common::video_policy();
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                let (frames, report) = sample_frames(&bytes, &policy).unwrap();
                eprintln!(
                    "rust video ({}): {} frames, {} decoded, {threads} threads",
                    omnigate_video::H264_DECODER,
                    frames.len(),
                    report.decoded_frames
                );
                let keep = |frame| Ok(frame);
                let mut cpu = Vec::new();
                let ms = time("video_60s_720p_1fps", 1, 5, || {
                    let before = cpu_ms();
                    black_box(
                        sample_frames_parallel(black_box(&bytes), &policy, threads, &keep).unwrap(),
                    );
                    cpu.push(cpu_ms() - before);
                });
                cpu.drain(..1); // the warm-up run
                cpu.sort_by(f64::total_cmp);
                print_result("video_cpu", &cpu);
                // The same runs per picture decoded: what the decoder's speed must be measured
                // against (see `video_per_picture` in compare_python.py).
                let pictures = report.decoded_frames.max(1) as f64;
                let per_picture: Vec<f64> = ms.iter().map(|m| m / pictures).collect();
                print_result("video_per_picture", &per_picture);
            }
            Err(why) => eprintln!("skipping video_60s_720p_1fps: {why}"),
        }
    }
}
