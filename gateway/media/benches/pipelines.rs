//! Criterion benchmarks of the media pipelines on realistic inputs: a 1280×960 photo JPEG to a
//! 448² tensor (4:4:4 and 4:2:0 chroma) and to a 448² JPEG, a 60 s MP3 to 16 kHz mono, and a 60 s 720p H.264 video to
//! one frame per second (skipped, with a message, when ffmpeg is not there to make the video).
//!
//! `cargo bench -p omnigate-media --bench pipelines` (add `-- image` etc. to filter).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark should stop loudly on a broken input"
)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use omnigate_media::{normalize_audio, normalize_image};
use omnigate_video::sample_frames;

fn image(c: &mut Criterion) {
    let jpeg = common::photo_jpeg();
    let jpeg_420 = common::photo_jpeg_420();
    let tensor = common::tensor_policy();
    let reencode = common::jpeg_policy();
    let mut group = c.benchmark_group("image");
    group.bench_function("jpeg_1280x960_to_tensor_448", |b| {
        b.iter(|| normalize_image(black_box(&jpeg), &tensor, None).unwrap());
    });
    group.bench_function("jpeg420_1280x960_to_tensor_448", |b| {
        b.iter(|| normalize_image(black_box(&jpeg_420), &tensor, None).unwrap());
    });
    group.bench_function("jpeg_1280x960_to_jpeg_448", |b| {
        b.iter(|| normalize_image(black_box(&jpeg), &reencode, None).unwrap());
    });
    group.finish();
}

fn audio(c: &mut Criterion) {
    let mp3 = std::fs::read(common::mp3_path()).expect("the committed 60 s MP3");
    let policy = common::audio_policy();
    let mut group = c.benchmark_group("audio");
    // Each run takes tens of milliseconds; ten samples keep the whole bench under a minute.
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("mp3_60s_to_16k_mono", |b| {
        b.iter(|| normalize_audio(black_box(&mp3), Some("mp3"), &policy).unwrap());
    });
    group.finish();
}

fn video(c: &mut Criterion) {
    let path = match common::ensure_video(&common::shared_dir()) {
        Ok(path) => path,
        Err(why) => {
            eprintln!("skipping the video bench: {why}");
            return;
        }
    };
    let bytes = std::fs::read(path).expect("reading the bench video");
    let policy = common::video_policy();
    let mut group = c.benchmark_group("video");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function("h264_720p_60s_to_1fps", |b| {
        b.iter(|| sample_frames(black_box(&bytes), &policy).unwrap());
    });
    group.finish();
}

criterion_group!(benches, image, audio, video);
criterion_main!(benches);
