//! End-to-end tests of the sampler on the committed test clips (see
//! testdata/README.md for how each was made and what it shows); hostile
//! inputs derived from them are in `hostile`.

use super::*;

mod hostile;
mod parallel;

fn clip(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn policy(sampling: Sampling) -> VideoPolicy {
    VideoPolicy {
        sampling,
        max_frames: 100,
        ..VideoPolicy::default()
    }
}

fn mean_rgb(frame: &Frame) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for px in frame.rgb.chunks_exact(3) {
        for c in 0..3 {
            sum[c] += f64::from(px[c]);
        }
    }
    let n = (frame.rgb.len() / 3) as f64;
    sum.map(|s| s / n)
}

/// The colour clips show red, then green, then blue, one second each.
fn expected_colour(t: f64) -> [f64; 3] {
    match t.floor() as i64 {
        0 => [255.0, 0.0, 0.0],
        1 => [0.0, 255.0, 0.0],
        _ => [0.0, 0.0, 255.0],
    }
}

fn assert_colour(frame: &Frame) {
    let got = mean_rgb(frame);
    let want = expected_colour(frame.timestamp_secs);
    for c in 0..3 {
        assert!(
            (got[c] - want[c]).abs() < 24.0,
            "frame at {} s: mean {got:?}, expected {want:?}",
            frame.timestamp_secs
        );
    }
}

/// Offset of the first occurrence of a fourcc (the byte after it starts the
/// box payload).
fn find(data: &[u8], fourcc: &[u8; 4]) -> usize {
    data.windows(4).position(|w| w == fourcc).unwrap() + 4
}

#[test]
fn shaped_sampling_hands_over_each_frame_once_in_presentation_order() {
    // The B-frame clip returns pictures out of decode order: the shaped results must still come
    // back by time, one per sampled frame, with the same timestamps as unshaped sampling.
    let bytes = clip("ramp_high_bframes.mp4");
    let policy = policy(Sampling::Fps(4.0));
    let (frames, report) = sample_frames(&bytes, &policy).unwrap();
    let mut calls = 0;
    let (shaped, shaped_report) = sample_frames_shaped(&bytes, &policy, &mut |frame: Frame| {
        calls += 1;
        Ok((frame.timestamp_secs, frame.rgb.len()))
    })
    .unwrap();
    assert_eq!(calls, frames.len());
    assert_eq!(shaped_report, report);
    let expected: Vec<(f64, usize)> = frames
        .iter()
        .map(|f| (f.timestamp_secs, f.rgb.len()))
        .collect();
    assert_eq!(shaped, expected);

    // An error from the shaping stops sampling and comes back as is.
    let failed = sample_frames_shaped(&bytes, &policy, &mut |_: Frame| -> Result<(), _> {
        Err(VideoError::Shaping {
            reason: "no room".into(),
        })
    });
    assert_eq!(
        failed.unwrap_err(),
        VideoError::Shaping {
            reason: "no room".into()
        }
    );
}

#[test]
fn fps_sampling_returns_frames_at_each_second_with_their_colour() {
    let (frames, report) =
        sample_frames(&clip("colors_baseline.mp4"), &policy(Sampling::Fps(1.0))).unwrap();
    assert_eq!(frames.len(), 3);
    for (k, frame) in frames.iter().enumerate() {
        assert!(
            (frame.timestamp_secs - k as f64).abs() <= 0.1,
            "{}",
            frame.timestamp_secs
        );
        assert_eq!((frame.width, frame.height), (160, 120));
        assert_eq!(frame.rgb.len(), 160 * 120 * 3);
        assert_colour(frame);
    }
    let info = &report.info;
    assert_eq!(
        (
            info.container.as_str(),
            info.codec.as_str(),
            info.profile.as_str()
        ),
        ("mp4", "h264", "Baseline")
    );
    assert_eq!((info.width, info.height, info.frame_count), (160, 120, 30));
    assert!(
        (info.duration_secs - 3.0).abs() < 0.05,
        "{}",
        info.duration_secs
    );
    assert!(!info.has_audio);
    assert_eq!(
        report.sampled,
        frames.iter().map(|f| f.timestamp_secs).collect::<Vec<_>>()
    );
}

#[test]
fn frame_count_sampling_takes_span_middles_and_seeks_by_keyframe() {
    let (frames, report) =
        sample_frames(&clip("colors_baseline.mp4"), &policy(Sampling::Frames(3))).unwrap();
    let times: Vec<f64> = frames.iter().map(|f| f.timestamp_secs).collect();
    for (got, want) in times.iter().zip([0.5, 1.5, 2.5]) {
        assert!((got - want).abs() <= 0.1, "{times:?}");
    }
    frames.iter().for_each(assert_colour);
    // Keyframe every 10 frames: frames 5, 15, 25 need 6 decoded each, not 26.
    assert_eq!(report.decoded_frames, 18);

    let (frames, _) =
        sample_frames(&clip("colors_baseline.mp4"), &policy(Sampling::Frames(6))).unwrap();
    assert_eq!(frames.len(), 6);
    frames.iter().for_each(assert_colour);
}

#[test]
fn frame_cap_spreads_fps_sampling() {
    let p = VideoPolicy {
        max_frames: 3,
        ..policy(Sampling::Fps(10.0))
    };
    let (frames, _) = sample_frames(&clip("colors_baseline.mp4"), &p).unwrap();
    assert_eq!(frames.len(), 3);
    frames.iter().for_each(assert_colour);
}

/// The ramp clip's frame n has mean red 8n; returns n for a frame.
fn ramp_index(frame: &Frame) -> f64 {
    mean_rgb(frame)[0] / 8.0
}

#[test]
fn b_frame_clip_decodes_every_frame_in_presentation_order() {
    let bytes = clip("ramp_high_bframes.mp4");
    // The clip must really reorder frames for this test to mean anything.
    assert!(bytes.windows(4).any(|w| w == b"ctts"));
    let (frames, report) = sample_frames(&bytes, &policy(Sampling::Fps(10.0))).unwrap();
    assert_eq!(report.info.profile, "High");
    assert_eq!(frames.len() as u64, report.info.frame_count);
    assert_eq!(frames.len(), 30);
    assert_eq!(report.decoded_frames, 30);
    for (k, frame) in frames.iter().enumerate() {
        assert!(
            (frame.timestamp_secs - k as f64 / 10.0).abs() < 0.01,
            "frame {k} at {}",
            frame.timestamp_secs
        );
        let n = ramp_index(frame);
        assert!(
            (n - k as f64).abs() < 0.5,
            "frame {k} looks like frame {n:.2}"
        );
    }
}

#[test]
fn b_frame_clip_seeks_and_labels_sampled_frames_correctly() {
    let bytes = clip("ramp_high_bframes.mp4");
    for n in [1, 2, 4, 7] {
        let (frames, report) = sample_frames(&bytes, &policy(Sampling::Frames(n))).unwrap();
        assert_eq!(frames.len(), n as usize);
        assert!(report.decoded_frames <= 30);
        for frame in &frames {
            let shown = (frame.timestamp_secs * 10.0).round();
            assert!(
                (ramp_index(frame) - shown).abs() < 0.5,
                "at {} s",
                frame.timestamp_secs
            );
        }
    }
}

#[test]
fn open_gop_keyframes_are_not_used_as_seek_points() {
    // Its stss flags non-IDR I-frames whose leading B-frames reference the
    // previous GOP; seeking there would decode garbage or fail.
    let bytes = clip("ramp_open_gop.mp4");
    let (all, _) = sample_frames(&bytes, &policy(Sampling::Fps(10.0))).unwrap();
    assert_eq!(all.len(), 30);
    for n in [3, 5, 30] {
        let (frames, _) = sample_frames(&bytes, &policy(Sampling::Frames(n))).unwrap();
        for frame in &frames {
            let shown = (frame.timestamp_secs * 10.0).round();
            assert!(
                (ramp_index(frame) - shown).abs() < 0.5,
                "at {} s",
                frame.timestamp_secs
            );
        }
    }
}

#[test]
fn audio_track_is_detected() {
    let bytes = clip("with_audio.mp4");
    let info = probe(&bytes).unwrap();
    assert!(info.has_audio);
    assert_eq!(info.profile, "Main");
    let (frames, report) = sample_frames(&bytes, &policy(Sampling::Frames(2))).unwrap();
    assert_eq!(frames.len(), 2);
    assert!(report.info.has_audio);
    assert!(!probe(&clip("colors_baseline.mp4")).unwrap().has_audio);
}

#[test]
fn quicktime_mov_is_sampled() {
    let (frames, report) =
        sample_frames(&clip("colors_main.mov"), &policy(Sampling::Frames(3))).unwrap();
    assert_eq!(report.info.container, "mov");
    assert_eq!(frames.len(), 3);
    frames.iter().for_each(assert_colour);
}

#[test]
fn non_h264_codec_is_named() {
    let bytes = clip("mpeg4_part2.mp4");
    let want = VideoError::UnsupportedCodec {
        codec: "mp4v".into(),
    };
    assert_eq!(probe(&bytes).unwrap_err(), want);
    assert_eq!(
        sample_frames(&bytes, &VideoPolicy::default()).unwrap_err(),
        want
    );
    assert!(want.to_string().contains("'mp4v'"));
}

#[test]
fn decode_budget_is_enforced_up_front() {
    let p = VideoPolicy {
        max_decoded_frames: 5,
        ..policy(Sampling::Fps(10.0))
    };
    assert_eq!(
        sample_frames(&clip("colors_baseline.mp4"), &p).unwrap_err(),
        VideoError::TooManyFrames {
            needed: 30,
            limit: 5
        }
    );
}

#[test]
fn invalid_policies_are_reported_as_such() {
    let bytes = clip("colors_baseline.mp4");
    for sampling in [
        Sampling::Fps(0.0),
        Sampling::Fps(f64::NAN),
        Sampling::Frames(0),
    ] {
        let err = sample_frames(&bytes, &policy(sampling)).unwrap_err();
        assert!(matches!(err, VideoError::InvalidPolicy { .. }));
        assert!(!err.is_client_error());
    }
}

#[test]
fn unreferenced_b_frames_nobody_wants_are_not_decoded() {
    // 1 fps over the open-GOP ramp wants frames 0, 10 and 20: the runs up to
    // them hold 20 samples, 9 of them B-frames no other frame refers to.
    let bytes = clip("ramp_open_gop.mp4");
    let (frames, report) = sample_frames(&bytes, &policy(Sampling::Fps(1.0))).unwrap();
    assert_eq!(report.decoded_frames, 11);
    assert_eq!(frames.len(), 3);
    for (k, frame) in frames.iter().enumerate() {
        assert!((frame.timestamp_secs - k as f64).abs() < 0.01);
        // Skipping must not shift which picture is labelled with which time.
        assert!((ramp_index(frame) - 10.0 * k as f64).abs() < 0.5);
    }
}

/// Both decoders give the same frames: the same times and sizes, pixels
/// within colour-conversion rounding (OpenH264's YUV-to-RGB against
/// libswscale's).
#[cfg(feature = "ffmpeg")]
#[test]
fn ffmpeg_and_openh264_give_the_same_frames() {
    for name in [
        "ramp_high_bframes.mp4",
        "ramp_open_gop.mp4",
        "colors_main.mov",
        "colors_baseline.mp4",
    ] {
        let bytes = clip(name);
        let policy = policy(Sampling::Fps(4.0));
        let (open, open_report) = sample_with_decoder(
            &bytes,
            &policy,
            codec::Kind::OpenH264,
            Shaping::OneThread(&mut Ok),
        )
        .unwrap();
        let (ff, ff_report) = sample_with_decoder(
            &bytes,
            &policy,
            codec::Kind::Ffmpeg,
            Shaping::OneThread(&mut Ok),
        )
        .unwrap();
        assert_eq!(open_report.sampled, ff_report.sampled, "{name}");
        assert_eq!(
            open_report.decoded_frames, ff_report.decoded_frames,
            "{name}"
        );
        assert_eq!(open.len(), ff.len(), "{name}");
        for (a, b) in open.iter().zip(&ff) {
            assert_eq!((a.width, a.height), (b.width, b.height), "{name}");
            let mean_difference = a
                .rgb
                .iter()
                .zip(&b.rgb)
                .map(|(x, y)| f64::from(x.abs_diff(*y)))
                .sum::<f64>()
                / a.rgb.len() as f64;
            assert!(
                mean_difference < 2.0,
                "{name} at {} s: mean difference {mean_difference}",
                a.timestamp_secs
            );
        }
    }
}
