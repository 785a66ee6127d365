//! End-to-end checks of `normalize_image` on pictures generated here: every input format, the
//! fit modes, EXIF orientation, transparency, tensors, and hostile inputs.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat as Fmt, Rgb, RgbImage, Rgba, RgbaImage};
use omnigate_backend::{EncodedImage, ImageData, ImageFormat};

use super::*;
use crate::error::{MediaError, MediaKind};

pub(super) fn encode(img: &DynamicImage, format: Fmt) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn quadrants(w: u32, h: u32) -> RgbImage {
    // Top-left red, top-right green, bottom-left blue, bottom-right white.
    RgbImage::from_fn(w, h, |x, y| match (x < w / 2, y < h / 2) {
        (true, true) => Rgb([255, 0, 0]),
        (false, true) => Rgb([0, 255, 0]),
        (true, false) => Rgb([0, 0, 255]),
        (false, false) => Rgb([255, 255, 255]),
    })
}

pub(super) fn png_policy(fit: FitMode) -> ImagePolicy {
    ImagePolicy {
        max_side: 64,
        max_pixels: 64 * 64,
        low_detail_side: 16,
        fit,
        output: ImageOutput::Png,
        ..ImagePolicy::default()
    }
}

pub(super) fn decode_output(data: &ImageData) -> RgbImage {
    let ImageData::Encoded(EncodedImage { bytes, .. }) = data else {
        panic!("expected an encoded image");
    };
    image::load_from_memory(bytes).unwrap().into_rgb8()
}

fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

#[test]
fn every_input_format_decodes() {
    let img = DynamicImage::ImageRgb8(quadrants(40, 20));
    for (format, source) in [
        (Fmt::Png, SourceImageFormat::Png),
        (Fmt::Jpeg, SourceImageFormat::Jpeg),
        (Fmt::WebP, SourceImageFormat::WebP),
        (Fmt::Gif, SourceImageFormat::Gif),
        (Fmt::Bmp, SourceImageFormat::Bmp),
        (Fmt::Tiff, SourceImageFormat::Tiff),
    ] {
        let bytes = encode(&img, format);
        let (data, report) = normalize_image(&bytes, &png_policy(FitMode::Fit), None).unwrap();
        assert_eq!(report.source_format, source);
        assert_eq!((report.original_width, report.original_height), (40, 20));
        assert_eq!((report.output_width, report.output_height), (40, 20));
        let out = decode_output(&data);
        assert!(close(out.get_pixel(3, 3).0, [255, 0, 0], 40), "{format:?}");
        assert!(
            close(out.get_pixel(36, 16).0, [255, 255, 255], 40),
            "{format:?}"
        );
    }
}

#[test]
fn fit_pad_and_crop_give_the_promised_sizes() {
    let bytes = encode(&DynamicImage::ImageRgb8(quadrants(200, 100)), Fmt::Png);
    let run = |fit, detail| {
        let (data, report) = normalize_image(&bytes, &png_policy(fit), detail).unwrap();
        let ImageData::Encoded(e) = &data else {
            panic!("expected a file")
        };
        assert_eq!(
            (e.width, e.height),
            (report.output_width, report.output_height)
        );
        assert_eq!(e.format, ImageFormat::Png);
        (decode_output(&data), report)
    };
    let (out, _) = run(FitMode::Fit, None);
    assert_eq!(out.dimensions(), (64, 32));
    let (out, _) = run(FitMode::Fit, Some(Detail::Low));
    assert_eq!(out.dimensions(), (16, 8));
    let (out, _) = run(FitMode::Fit, Some(Detail::Original));
    assert_eq!(out.dimensions(), (200, 100));

    let (out, _) = run(FitMode::Pad, None);
    assert_eq!(out.dimensions(), (64, 64));
    assert_eq!(
        out.get_pixel(32, 2).0,
        [255, 255, 255],
        "padding uses the background"
    );
    assert!(close(out.get_pixel(4, 20).0, [255, 0, 0], 8));

    let (out, _) = run(FitMode::Crop, None);
    assert_eq!(out.dimensions(), (64, 64));
    // The centre square of a 2:1 picture holds all four quadrants' inner halves.
    assert!(close(out.get_pixel(4, 4).0, [255, 0, 0], 8));
    assert!(close(out.get_pixel(60, 60).0, [255, 255, 255], 8));
}

/// A JPEG with an APP1/EXIF segment carrying only the orientation tag, inserted after SOI.
pub(super) fn jpeg_with_orientation(img: &DynamicImage, orientation: u16) -> Vec<u8> {
    let jpeg = encode(img, Fmt::Jpeg);
    let mut tiff = b"MM\0*\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_6_rotates_clockwise() {
    let bytes = jpeg_with_orientation(&DynamicImage::ImageRgb8(quadrants(48, 32)), 6);
    let (data, report) = normalize_image(&bytes, &png_policy(FitMode::Fit), None).unwrap();
    assert_eq!(report.exif_orientation, 6);
    assert!(report.orientation_applied);
    assert_eq!((report.original_width, report.original_height), (48, 32));
    assert_eq!((report.output_width, report.output_height), (32, 48));
    let out = decode_output(&data);
    assert_eq!(out.dimensions(), (32, 48));
    // Rotating 90° clockwise moves the stored top-left (red) to the top-right and the stored
    // bottom-left (blue) to the top-left.
    assert!(
        close(out.get_pixel(28, 4).0, [255, 0, 0], 40),
        "{:?}",
        out.get_pixel(28, 4)
    );
    assert!(
        close(out.get_pixel(3, 4).0, [0, 0, 255], 40),
        "{:?}",
        out.get_pixel(3, 4)
    );
    assert!(close(out.get_pixel(3, 44).0, [255, 255, 255], 40));
}

#[test]
fn upright_jpeg_reports_no_rotation() {
    let bytes = jpeg_with_orientation(&DynamicImage::ImageRgb8(quadrants(8, 8)), 1);
    let (_, report) = normalize_image(&bytes, &png_policy(FitMode::Fit), None).unwrap();
    assert_eq!(report.exif_orientation, 1);
    assert!(!report.orientation_applied);
}

#[test]
fn alpha_is_composited_onto_the_background() {
    let img = RgbaImage::from_fn(10, 10, |x, _| {
        if x < 5 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 0, 200, 255])
        }
    });
    let bytes = encode(&DynamicImage::ImageRgba8(img), Fmt::Png);
    let policy = ImagePolicy {
        background: [10, 220, 30],
        ..png_policy(FitMode::Fit)
    };
    let (data, report) = normalize_image(&bytes, &policy, None).unwrap();
    assert!(report.alpha_composited);
    let out = decode_output(&data);
    assert_eq!(out.get_pixel(1, 5).0, [10, 220, 30]);
    assert_eq!(out.get_pixel(8, 5).0, [0, 0, 200]);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

fn ihdr(width: u32, height: u32, color_type: u8) -> Vec<u8> {
    let mut d = width.to_be_bytes().to_vec();
    d.extend_from_slice(&height.to_be_bytes());
    d.extend_from_slice(&[8, color_type, 0, 0, 0]);
    d
}

/// A zlib stream holding `raw` in one stored (uncompressed) block.
fn zlib_stored(raw: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01, 0x01];
    let len = raw.len() as u16;
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&(!len).to_le_bytes());
    z.extend_from_slice(raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    z
}

#[test]
fn palette_trns_transparency_is_composited() {
    // 2x1 palette picture: entry 0 fully transparent red, entry 1 opaque blue.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr(2, 1, 3));
    png_chunk(&mut png, b"PLTE", &[255, 0, 0, 0, 0, 255]);
    png_chunk(&mut png, b"tRNS", &[0]);
    png_chunk(&mut png, b"IDAT", &zlib_stored(&[0, 0, 1]));
    png_chunk(&mut png, b"IEND", &[]);
    let (data, report) = normalize_image(&png, &png_policy(FitMode::Fit), None).unwrap();
    assert!(report.alpha_composited);
    let out = decode_output(&data);
    assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(out.get_pixel(1, 0).0, [0, 0, 255]);
}

#[test]
fn tensor_output_is_normalized_chw() {
    let bytes = encode(
        &DynamicImage::ImageRgb8(RgbImage::from_pixel(50, 30, Rgb([255, 51, 0]))),
        Fmt::Png,
    );
    let mean = [0.5, 0.1, 0.2];
    let std = [0.25, 0.5, 0.1];
    let policy = ImagePolicy {
        fit: FitMode::Crop,
        output: ImageOutput::Tensor {
            size: (8, 6),
            mean,
            std,
        },
        ..ImagePolicy::default()
    };
    let (data, report) = normalize_image(&bytes, &policy, Some(Detail::Low)).unwrap();
    let ImageData::Tensor(t) = data else {
        panic!("expected a tensor");
    };
    assert_eq!((t.channels, t.height, t.width), (3, 6, 8));
    assert_eq!((report.output_width, report.output_height), (8, 6));
    assert_eq!(t.data.len(), 3 * 6 * 8);
    let expected = [(1.0 - 0.5) / 0.25, (0.2 - 0.1) / 0.5, (0.0 - 0.2) / 0.1];
    for (c, want) in expected.iter().enumerate() {
        let plane = &t.data[c * 48..(c + 1) * 48];
        assert!(
            plane.iter().all(|v| (v - want).abs() < 1e-3),
            "channel {c}: {plane:?}"
        );
    }
}

#[test]
fn huge_declared_png_is_refused_before_decoding() {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr(100_000, 100_000, 2));
    png_chunk(&mut png, b"IDAT", &zlib_stored(&[0; 64]));
    png_chunk(&mut png, b"IEND", &[]);
    let err = normalize_image(&png, &ImagePolicy::default(), None).unwrap_err();
    match err {
        MediaError::ImageTooLarge { width, height, .. } => {
            assert_eq!((width, height), (100_000, 100_000));
        }
        other => panic!("expected ImageTooLarge, got {other}"),
    }
    // Within the per-side limit but over the pixel budget.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &ihdr(16_000, 16_000, 2));
    png_chunk(&mut png, b"IDAT", &zlib_stored(&[0; 64]));
    png_chunk(&mut png, b"IEND", &[]);
    let err = normalize_image(&png, &ImagePolicy::default(), None).unwrap_err();
    assert!(err.to_string().contains("pixels in total"), "{err}");
}

#[test]
fn huge_declared_jpeg_is_refused_before_decoding() {
    let mut jpeg = encode(&DynamicImage::ImageRgb8(quadrants(16, 16)), Fmt::Jpeg);
    // Patch the baseline frame header (SOF0: FF C0, length, precision, height, width).
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&50_000u16.to_be_bytes());
    let err = normalize_image(&jpeg, &ImagePolicy::default(), None).unwrap_err();
    match err {
        MediaError::ImageTooLarge { width, height, .. } => {
            assert_eq!((width, height), (50_000, 60_000));
        }
        other => panic!("expected ImageTooLarge, got {other}"),
    }
}

#[test]
fn hostile_inputs_fail_cleanly() {
    let policy = ImagePolicy::default();
    assert!(matches!(
        normalize_image(&[], &policy, None),
        Err(MediaError::Empty(MediaKind::Image))
    ));

    let png = encode(&DynamicImage::ImageRgb8(quadrants(64, 64)), Fmt::Png);
    for cut in [png.len() / 2, 40, 12] {
        let err = normalize_image(&png[..cut], &policy, None).unwrap_err();
        assert!(
            matches!(err, MediaError::Corrupt { .. }),
            "cut at {cut}: {err}"
        );
    }
    let jpeg = encode(&DynamicImage::ImageRgb8(quadrants(64, 64)), Fmt::Jpeg);
    let err = normalize_image(&jpeg[..jpeg.len() / 3], &policy, None);
    // A JPEG cut mid-scan may decode with grey tail rows (as browsers show it); it must not panic
    // and, if refused, be refused as corrupt.
    if let Err(e) = err {
        assert!(matches!(e, MediaError::Corrupt { .. }), "{e}");
    }

    // Garbage from a fixed-seed xorshift: never a panic, always "not a supported image".
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let err = normalize_image(&garbage, &policy, None).unwrap_err();
    assert!(matches!(err, MediaError::Unsupported { .. }), "{err}");

    // Real magic bytes followed by garbage.
    let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
    fake.extend_from_slice(&garbage);
    let err = normalize_image(&fake, &policy, None).unwrap_err();
    assert!(matches!(err, MediaError::Corrupt { .. }), "{err}");
}

#[test]
fn format_comes_from_the_bytes_not_the_label() {
    // A GIF named "photo.png" with a PNG MIME type is still decoded as the GIF it is.
    let gif = encode(&DynamicImage::ImageRgb8(quadrants(8, 8)), Fmt::Gif);
    let (_, report) = normalize_image(&gif, &png_policy(FitMode::Fit), None).unwrap();
    assert_eq!(report.source_format, SourceImageFormat::Gif);
}

#[test]
fn bad_policies_are_reported_as_server_errors() {
    let png = encode(&DynamicImage::ImageRgb8(quadrants(8, 8)), Fmt::Png);
    let policy = ImagePolicy {
        output: ImageOutput::Tensor {
            size: (4, 4),
            mean: [0.0; 3],
            std: [1.0, 0.0, 1.0],
        },
        ..ImagePolicy::default()
    };
    let err = normalize_image(&png, &policy, None).unwrap_err();
    assert!(matches!(err, MediaError::InvalidPolicy(_)));
    assert!(!err.is_client_error());
}
