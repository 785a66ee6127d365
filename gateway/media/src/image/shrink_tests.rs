//! The reduced-scale JPEG path (libjpeg-turbo's scaled IDCT) against decoding every pixel:
//! the same reports, outputs within a stated difference, every EXIF orientation, grayscale.

#![cfg(feature = "libjpeg-turbo")]

use image::{DynamicImage, ImageFormat as Fmt, Rgb, RgbImage};

use super::tests::{decode_output, encode, jpeg_with_orientation, png_policy};
use super::*;

/// A photo-like picture: smooth colour fields, oriented mid-frequency texture, hard block edges
/// and a little noise (fixed seed), at an odd size so the reduced sizes round up.
fn photo(w: u32, h: u32) -> RgbImage {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = ((state >> 56) as f32 - 128.0) / 16.0;
        let (xf, yf) = (x as f32, y as f32);
        let texture = (xf * 0.09 + (yf * 0.03).sin() * 4.0).sin() * (yf * 0.07).cos();
        let edge = if (x / 97 + y / 61) % 3 == 0 {
            40.0
        } else {
            0.0
        };
        let base = [
            60.0 + 120.0 * yf / h as f32,
            90.0 + 60.0 * (xf * 0.004).cos(),
            200.0 - 100.0 * xf / w as f32,
        ];
        Rgb(base.map(|b| (b + 30.0 * texture + edge + noise).clamp(0.0, 255.0) as u8))
    })
}

fn jpeg_420(rgb: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    let (w, h) = (rgb.width() as u16, rgb.height() as u16);
    encoder
        .encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// (max, mean) absolute difference between two same-sized pictures, over every channel.
fn difference(a: &RgbImage, b: &RgbImage) -> (u8, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let diffs = || {
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| x.abs_diff(*y))
    };
    let max = diffs().max().unwrap_or(0);
    let mean = diffs().map(f64::from).sum::<f64>() / a.as_raw().len() as f64;
    (max, mean)
}

/// The stated tolerance of the reduced-scale path against decoding every pixel: the scaled
/// IDCT averages each 2x2 (4x4, 8x8) block before the Catmull-Rom resize instead of letting the
/// resize see every pixel, and libjpeg's and zune-jpeg's rounding differ by a level or two.
/// Measured on these pictures (x86-64): max 4..=11, mean 0.40..=1.31 (the 1/8 shrinks are
/// the largest). A reversed axis placed half a shrunk pixel off measures max 31, mean 5.2.
const SHRINK_MAX_DIFF: u8 = 16;
const SHRINK_MEAN_DIFF: f64 = 1.5;

fn compare_paths(bytes: &[u8], policy: &ImagePolicy, detail: Option<Detail>) -> (u8, f64) {
    let (fast, fast_report) = normalize(bytes, policy, detail, Decode::ShrinkWhenSmaller).unwrap();
    let (full, full_report) = normalize(bytes, policy, detail, Decode::Full).unwrap();
    assert_eq!(fast_report, full_report);
    difference(&decode_output(&fast), &decode_output(&full))
}

#[test]
fn jpegs_shrink_while_decoding_when_the_output_is_small() {
    let bytes = jpeg_420(&photo(1001, 751), 90);
    let policy = png_policy(FitMode::Crop);
    // The crop is 751 square, resized to 224: 751 / 2 >= 224 > 751 / 4.
    let policy = ImagePolicy {
        max_side: 224,
        max_pixels: 1 << 20,
        ..policy
    };
    let factor = |w, h, _| {
        let target = geometry::target_for(&policy, Detail::High, w, h);
        shrink::factor_for(&geometry::layout(w, h, target))
    };
    let decoded = decode::decode(&bytes, SourceImageFormat::Jpeg, &policy, factor).unwrap();
    assert_eq!(decoded.factor, 2);
    assert_eq!(decoded.stored_size, (1001, 751));
    assert_eq!((decoded.image.width(), decoded.image.height()), (501, 376));
    // Other formats never shrink.
    let png = encode(&DynamicImage::ImageRgb8(photo(64, 48)), Fmt::Png);
    let decoded = decode::decode(&png, SourceImageFormat::Png, &policy, |_, _, _| 8).unwrap();
    assert_eq!(decoded.factor, 1);
}

#[test]
fn shrunk_jpegs_match_the_full_decode() {
    let picture = photo(1001, 751);
    for (name, bytes) in [
        ("4:2:0 q90", jpeg_420(&picture, 90)),
        (
            "4:4:4 q85",
            encode(&DynamicImage::ImageRgb8(picture.clone()), Fmt::Jpeg),
        ),
    ] {
        for (fit, side, detail) in [
            (FitMode::Crop, 224, None),             // factor 2
            (FitMode::Fit, 448, None),              // 1001x751 -> 448x336: factor 2
            (FitMode::Pad, 160, None),              // 160x120: factor 4
            (FitMode::Fit, 512, Some(Detail::Low)), // low side 100: factor 8
        ] {
            let policy = ImagePolicy {
                max_side: side,
                max_pixels: 1 << 22,
                low_detail_side: 100,
                ..png_policy(fit)
            };
            let (max, mean) = compare_paths(&bytes, &policy, detail);
            assert!(
                max <= SHRINK_MAX_DIFF && mean <= SHRINK_MEAN_DIFF,
                "{name} {fit:?} {side}: max {max}, mean {mean:.2}"
            );
        }
    }
}

#[test]
fn shrunk_jpegs_keep_every_exif_orientation() {
    // Odd sides so each reversed axis starts with a partial pixel; 4x and 8x shrinks.
    let picture = DynamicImage::ImageRgb8(photo(803, 601));
    for orientation in 1..=8 {
        let bytes = jpeg_with_orientation(&picture, orientation);
        for (fit, side) in [(FitMode::Fit, 150), (FitMode::Crop, 96)] {
            let policy = ImagePolicy {
                max_side: side,
                max_pixels: 1 << 22,
                ..png_policy(fit)
            };
            let (max, mean) = compare_paths(&bytes, &policy, None);
            assert!(
                max <= SHRINK_MAX_DIFF && mean <= SHRINK_MEAN_DIFF,
                "orientation {orientation} {fit:?}: max {max}, mean {mean:.2}"
            );
        }
        let (_, report) = normalize_image(&bytes, &png_policy(FitMode::Fit), None).unwrap();
        let upright = if orientation >= 5 { (47, 64) } else { (64, 47) };
        assert_eq!((report.output_width, report.output_height), upright);
    }
}

#[test]
fn grayscale_jpegs_shrink_and_stay_grey() {
    let grey = DynamicImage::ImageRgb8(photo(641, 481)).into_luma8();
    let bytes = encode(&DynamicImage::ImageLuma8(grey), Fmt::Jpeg);
    let policy = ImagePolicy {
        max_side: 150,
        ..png_policy(FitMode::Fit)
    };
    let (max, mean) = compare_paths(&bytes, &policy, None);
    assert!(
        max <= SHRINK_MAX_DIFF && mean <= SHRINK_MEAN_DIFF,
        "max {max}, mean {mean:.2}"
    );
    let (data, _) = normalize_image(&bytes, &policy, None).unwrap();
    assert!(
        decode_output(&data)
            .pixels()
            .all(|p| p[0] == p[1] && p[1] == p[2])
    );
}

#[test]
fn cmyk_jpegs_keep_the_full_size_decoder() {
    let cmyk: Vec<u8> = photo(400, 300)
        .as_raw()
        .chunks_exact(3)
        .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 20])
        .collect();
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 90)
        .encode(&cmyk, 400, 300, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    let policy = ImagePolicy {
        max_side: 100,
        max_pixels: 1 << 20,
        ..png_policy(FitMode::Fit)
    };
    let decoded = decode::decode(&bytes, SourceImageFormat::Jpeg, &policy, |_, _, _| 4).unwrap();
    assert_eq!(decoded.factor, 1);
    assert_eq!(compare_paths(&bytes, &policy, None), (0, 0.0));
}

#[test]
fn damaged_jpegs_on_the_shrinking_path_fail_cleanly() {
    let bytes = jpeg_420(&photo(1001, 751), 90);
    let policy = ImagePolicy {
        max_side: 100,
        max_pixels: 1 << 20,
        ..png_policy(FitMode::Fit)
    };
    let check = |input: &[u8], what: &str| match normalize_image(input, &policy, None) {
        Ok((_, report)) => {
            assert_eq!(
                (report.output_width, report.output_height),
                (100, 75),
                "{what}"
            );
        }
        Err(e) => assert!(matches!(e, MediaError::Corrupt { .. }), "{what}: {e}"),
    };
    for cut in [bytes.len() / 2, bytes.len() / 5, 700, 300] {
        check(&bytes[..cut], &format!("cut at {cut}"));
    }
    let mut flipped = bytes.clone();
    for i in (bytes.len() / 3..bytes.len() - 2).step_by(97) {
        flipped[i] ^= 0x5A;
    }
    check(&flipped, "flipped bytes");
}
