//! The fuzzed entry points, shared by the libFuzzer targets (`fuzz_targets/`) and the stable-Rust
//! smoke tester (`src/bin/smoke.rs`) so both exercise exactly the same calls, plus the seed inputs
//! both start from: real files of every accepted format.
//!
//! Each entry point must return (never panic, hang or allocate without bound) whatever the bytes.
//! The policy variant is picked from the input's length, so the same file reaches different fit
//! modes, outputs and rates as mutations change its size, while inputs stay plain media files
//! (a seed corpus of real pictures and recordings works unchanged).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use omnigate_media::{
    AudioPolicy, ChannelMode, Detail, FitMode, ImageOutput, ImagePolicy, normalize_audio,
    normalize_image,
};

/// Which entry point a target drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// [`omnigate_media::normalize_image`].
    Image,
    /// [`omnigate_media::normalize_audio`].
    Audio,
    /// [`omnigate_video::fuzz_entry`].
    Video,
}

impl Target {
    /// All targets, in the order the smoke tester runs them.
    pub const ALL: [Self; 3] = [Self::Image, Self::Audio, Self::Video];

    /// The target's name (also its libFuzzer binary's and corpus folder's name).
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }

    /// Parses a target name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Runs the entry point on `data`; returns whether it accepted the input (for statistics).
    pub fn run(self, data: &[u8]) -> bool {
        match self {
            Self::Image => image(data),
            Self::Audio => audio(data),
            Self::Video => {
                omnigate_video::fuzz_entry(data);
                // fuzz_entry hides its outcome; probe tells accepted headers apart.
                omnigate_video::probe(data).is_ok()
            }
        }
    }
}

/// Tight limits: at most 2048 px per side and 1 Mpx in, small outputs, so one input costs
/// milliseconds and a decompression bomb is refused from its header.
fn image_policy(variant: usize) -> ImagePolicy {
    let fit = [FitMode::Fit, FitMode::Pad, FitMode::Crop][variant % 3];
    let output = match variant / 3 % 3 {
        0 => ImageOutput::Png,
        1 => ImageOutput::Jpeg { quality: 80 },
        _ => ImageOutput::Tensor {
            size: (32, 24),
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        },
    };
    ImagePolicy {
        max_side: 128,
        max_pixels: 128 * 128,
        low_detail_side: 32,
        max_input_side: 2048,
        max_input_pixels: 1 << 20,
        fit,
        background: [255, 255, 255],
        output,
    }
}

/// Normalizes `data` as a picture under a tight policy chosen from its length.
pub fn image(data: &[u8]) -> bool {
    let policy = image_policy(data.len());
    let detail = [Detail::Auto, Detail::Low, Detail::High, Detail::Original][data.len() / 9 % 4];
    normalize_image(data, &policy, Some(detail)).is_ok()
}

/// Normalizes `data` as sound: at most 30 s, a rate, channel mode and hint chosen from its length.
pub fn audio(data: &[u8]) -> bool {
    let n = data.len();
    let policy = AudioPolicy {
        sample_rate: [16_000, 8_000, 48_000][n % 3],
        channels: [ChannelMode::Mono, ChannelMode::Keep][n / 3 % 2],
        max_seconds: 30.0,
    };
    let hint = [
        None,
        Some("mp3"),
        Some("audio/wav"),
        Some("ogg"),
        Some("m4a"),
        Some("webm"),
    ][n / 6 % 6];
    normalize_audio(data, hint, &policy).is_ok()
}

/// Seed inputs for `target`: `(file name, bytes)`. Pictures are generated; sound and video come
/// from the media and video crates' committed test files (each under 64 KiB, so an iteration
/// stays fast).
pub fn seeds(target: Target) -> Vec<(String, Vec<u8>)> {
    match target {
        Target::Image => image_seeds(),
        Target::Audio => {
            let mut seeds = files_in(&crate_dir().join("../media/testdata"));
            seeds.push(("pcm16_stereo_8k.wav".into(), wav_pcm16(8_000, 2, 800)));
            seeds
        }
        Target::Video => files_in(&crate_dir().join("../video/testdata")),
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Media files (not READMEs) under 64 KiB in `dir`, sorted by name for reproducible runs.
fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).ok()?;
            (!name.ends_with(".md") && bytes.len() <= 64 * 1024).then_some((name, bytes))
        })
        .collect();
    out.sort();
    out
}

fn quadrants(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| match (x < w / 2, y < h / 2) {
        (true, true) => Rgb([255, 0, 0]),
        (false, true) => Rgb([0, (x * 8) as u8, 0]),
        (true, false) => Rgb([0, 0, (y * 8) as u8]),
        (false, false) => Rgb([255, 255, 255]),
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Option<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).ok()?;
    Some(out.into_inner())
}

fn image_seeds() -> Vec<(String, Vec<u8>)> {
    let rgb = DynamicImage::ImageRgb8(quadrants(40, 30));
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(24, 16, |x, y| {
        Rgba([(x * 10) as u8, (y * 15) as u8, 90, (x * y) as u8])
    }));
    let gray = DynamicImage::ImageLuma8(rgb.to_luma8());
    let mut seeds = Vec::new();
    for (name, img, format) in [
        ("rgb.png", &rgb, ImageFormat::Png),
        ("rgba.png", &rgba, ImageFormat::Png),
        ("gray.png", &gray, ImageFormat::Png),
        ("rgb444.jpg", &rgb, ImageFormat::Jpeg),
        ("gray.jpg", &gray, ImageFormat::Jpeg),
        ("rgb.webp", &rgb, ImageFormat::WebP),
        ("rgba.webp", &rgba, ImageFormat::WebP),
        ("rgb.gif", &rgb, ImageFormat::Gif),
        ("rgb.bmp", &rgb, ImageFormat::Bmp),
        ("rgba.bmp", &rgba, ImageFormat::Bmp),
        ("rgb.tiff", &rgb, ImageFormat::Tiff),
    ] {
        if let Some(bytes) = encode(img, format) {
            seeds.push((name.to_owned(), bytes));
        }
    }
    // What cameras and phones write: 4:2:0 chroma, progressive scans, EXIF orientation.
    let raw = quadrants(40, 30).into_raw();
    for (name, progressive) in [("rgb420.jpg", false), ("rgb420_progressive.jpg", true)] {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        encoder.set_progressive(progressive);
        if encoder
            .encode(&raw, 40, 30, jpeg_encoder::ColorType::Rgb)
            .is_ok()
        {
            seeds.push((name.to_owned(), out));
        }
    }
    if let Some(jpeg) = encode(&rgb, ImageFormat::Jpeg) {
        seeds.push((
            "exif_orientation6.jpg".into(),
            with_exif_orientation(&jpeg, 6),
        ));
    }
    // Large enough against the small outputs to be decoded at 1/2..1/8 scale with the
    // `libjpeg-turbo` feature (320 / 8 = 40 >= the 32 px low-detail side), in every layout.
    let big = quadrants(320, 240);
    for (name, progressive) in [("big420.jpg", false), ("big420_progressive.jpg", true)] {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 75);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
        encoder.set_progressive(progressive);
        if encoder
            .encode(big.as_raw(), 320, 240, jpeg_encoder::ColorType::Rgb)
            .is_ok()
        {
            seeds.push((name.to_owned(), with_exif_orientation(&out, 8)));
        }
    }
    if let Some(jpeg) = encode(
        &DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(big).to_luma8()),
        ImageFormat::Jpeg,
    ) {
        seeds.push(("big_gray.jpg".into(), jpeg));
    }
    seeds
}

/// `jpeg` with an APP1/EXIF segment holding only an orientation tag, inserted after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0*\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2.min(jpeg.len())].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(jpeg.get(2..).unwrap_or_default());
    out
}

/// A 16-bit PCM WAV of a sawtooth, written by hand (no encoder dependency needed).
fn wav_pcm16(rate: u32, channels: u16, frames: u32) -> Vec<u8> {
    let data_len = frames * u32::from(channels) * 2;
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        for c in 0..channels {
            let v = ((i * 300 + u32::from(c) * 97) % 65_536) as u16;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}
