//! Inputs and policies shared by the criterion benches (`pipelines.rs`) and the per-item timing
//! example (`examples/media_timings.rs`), so both measure exactly what the Python comparison does.

#![allow(dead_code, reason = "each including target uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::Command;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};
use omnigate_media::{AudioPolicy, ChannelMode, FitMode, ImageOutput, ImagePolicy};
use omnigate_video::{Sampling, VideoPolicy};

/// The photo-like input: 1280×960, baseline JPEG, quality 90.
pub const PHOTO_SIZE: (u32, u32) = (1280, 960);
/// File name of the photo in the shared input folder (4:4:4, as the `image` crate encodes).
pub const PHOTO_FILE: &str = "photo_1280x960_q90.jpg";
/// The same photo with 4:2:0 chroma, as cameras, phones and libjpeg's defaults write JPEGs.
pub const PHOTO_420_FILE: &str = "photo_1280x960_q90_420.jpg";
/// File name of the 60 s MP3 (committed to testdata; copied to the shared folder for Python).
pub const MP3_FILE: &str = "speechlike_60s_mono_44k_32k.mp3";
/// File name of the 60 s 720p H.264 video in the shared folder (made with ffmpeg on demand).
pub const VIDEO_FILE: &str = "video_60s_720p30_h264.mp4";

/// ImageNet normalization, what CLIP-family preprocessors use.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `target/media-bench/` at the workspace root: the inputs both languages read.
pub fn shared_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("media-bench")
}

/// The committed 60 s MP3.
pub fn mp3_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(MP3_FILE)
}

/// A deterministic photo-like picture: smooth colour fields, oriented mid-frequency texture,
/// a few hard edges and sensor-like noise, so the JPEG has the entropy of a real photo
/// (a flat colour would make the entropy decoder unrealistically cheap).
pub fn photo_rgb() -> Vec<u8> {
    let (w, h) = PHOTO_SIZE;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 56) as f32 - 128.0) / 128.0
    };
    let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32, y as f32);
            let sky = yf / h as f32;
            let hills = ((xf * 0.004).sin() * 80.0 + 600.0 - yf).clamp(-40.0, 40.0) / 40.0;
            let texture = (xf * 0.21 + (yf * 0.037).sin() * 6.0).sin()
                * (yf * 0.13 + (xf * 0.011).cos() * 4.0).sin();
            let edge = if ((x / 160) + (y / 120)) % 5 == 0 {
                40.0
            } else {
                0.0
            };
            let n = noise() * 10.0;
            let base = [
                90.0 + 80.0 * sky + 30.0 * hills,
                120.0 + 50.0 * (xf * 0.003).cos() - 40.0 * hills,
                170.0 - 90.0 * sky + 20.0 * (yf * 0.01).sin(),
            ];
            for (c, b) in base.iter().enumerate() {
                let t = texture * (18.0 + 6.0 * c as f32);
                rgb.push((b + t + edge + n).clamp(0.0, 255.0) as u8);
            }
        }
    }
    rgb
}

/// [`photo_rgb`] as a quality-90 JPEG.
pub fn photo_jpeg() -> Vec<u8> {
    let (w, h) = PHOTO_SIZE;
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(&photo_rgb(), w, h, ExtendedColorType::Rgb8)
        .expect("encoding the bench photo");
    out
}

/// [`photo_rgb`] as a quality-90 JPEG with 4:2:0 chroma subsampling (the `image` crate's
/// encoder only writes 4:4:4, which has twice the entropy-coded data of a typical photo).
pub fn photo_jpeg_420() -> Vec<u8> {
    let (w, h) = PHOTO_SIZE;
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder
        .encode(
            &photo_rgb(),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("encoding the 4:2:0 bench photo");
    out
}

/// JPEG → 448×448 f32 CHW tensor, ImageNet-normalized, centre crop (CLIP-style).
pub fn tensor_policy() -> ImagePolicy {
    ImagePolicy {
        fit: FitMode::Crop,
        output: ImageOutput::Tensor {
            size: (448, 448),
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        },
        ..ImagePolicy::default()
    }
}

/// JPEG → 448×448 JPEG (centre crop), re-encoded at quality 90.
pub fn jpeg_policy() -> ImagePolicy {
    ImagePolicy {
        max_side: 448,
        fit: FitMode::Crop,
        output: ImageOutput::Jpeg { quality: 90 },
        ..ImagePolicy::default()
    }
}

/// 16 kHz mono f32 (Whisper-style).
pub fn audio_policy() -> AudioPolicy {
    AudioPolicy {
        sample_rate: 16_000,
        channels: ChannelMode::Mono,
        max_seconds: 600.0,
    }
}

/// One frame per second of a 60 s video: all 60 of them (the default caps at 32), at 720p.
pub fn video_policy() -> VideoPolicy {
    VideoPolicy {
        sampling: Sampling::Fps(1.0),
        max_frames: 60,
        ..VideoPolicy::default()
    }
}

/// Writes the photo `name` into `dir` (made by `make`, if absent) and returns its bytes.
pub fn ensure_photo(dir: &Path, name: &str, make: fn() -> Vec<u8>) -> std::io::Result<Vec<u8>> {
    let path = dir.join(name);
    if let Ok(bytes) = std::fs::read(&path) {
        return Ok(bytes);
    }
    std::fs::create_dir_all(dir)?;
    let bytes = make();
    std::fs::write(&path, &bytes)?;
    Ok(bytes)
}

/// Makes the 60 s 720p30 H.264 video in `dir` with ffmpeg (once), or says why it cannot.
///
/// Moving test patterns with light per-frame noise (so inter frames carry residuals, as a
/// camera's do), High profile, 2.5 Mbit/s (a typical 720p upload: about 19 MB), ffmpeg's
/// default GOP (a keyframe every 250 frames). Too big to commit, cheap to regenerate.
pub fn ensure_video(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join(VIDEO_FILE);
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = dir.join(format!("{VIDEO_FILE}.partial.mp4"));
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=1280x720:rate=30:duration=60,noise=alls=3:allf=t")
        .args([
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "fast",
            "-b:v",
            "2500k",
            "-maxrate",
            "3500k",
            "-bufsize",
            "5000k",
            "-movflags",
            "+faststart",
        ])
        .arg(&tmp)
        .status()
        .map_err(|e| {
            format!("ffmpeg is needed to make the video input ({e}); apt-get install -y ffmpeg")
        })?;
    if !status.success() {
        return Err(format!("ffmpeg failed ({status}) making {}", tmp.display()));
    }
    std::fs::rename(&tmp, &path).map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
    Ok(path)
}
