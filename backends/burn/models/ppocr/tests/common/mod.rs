//! Shared test helpers: locating the weights, rendering text with a real font.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};
use omnigate_ppocr::PpOcr;

/// Debian's fonts-dejavu-core.
pub const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// The lines of the test image, top to bottom.
pub const PAGE_LINES: [&str; 4] = [
    "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.",
    "Optical character recognition turns pictures",
    "of printed words into plain text again.",
];

/// Where a rendered test image is written for `testdata/reference.py`.
pub fn rendered_image_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("omnigate-ppocr-{name}.png"))
}

pub fn models_dir() -> PathBuf {
    let dir = omnigate_weights::pypi_dir("rapidocr-onnxruntime", "1.4.4")
        .join("rapidocr_onnxruntime/models");
    assert!(
        dir.join("ch_PP-OCRv4_det_infer.onnx").is_file(),
        "PP-OCRv4 weights missing in {}: run .ci/fetch-models",
        dir.display()
    );
    dir
}

/// The models, loaded once per test binary.
pub fn ocr() -> &'static PpOcr {
    static OCR: OnceLock<PpOcr> = OnceLock::new();
    OCR.get_or_init(|| {
        PpOcr::load(&models_dir(), &burn::tensor::Device::default()).expect("loading PP-OCRv4")
    })
}

fn font() -> FontVec {
    let bytes = std::fs::read(FONT_PATH).unwrap_or_else(|e| {
        panic!("{FONT_PATH}: {e}; install it with `apt-get install -y fonts-dejavu-core`")
    });
    FontVec::try_from_vec(bytes).expect("DejaVuSans.ttf is a valid font")
}

/// Paragraph word gaps are this many times the font's space: at 28-30 px PP-OCRv4's
/// recognizer (trained mostly on Chinese) often swallows a normal-width space, in rapidocr as
/// here; much wider gaps make the detector split the line into words.
const WORD_SPACING: f32 = 1.5;

/// Draws `text` in black with its baseline at `(x, baseline)`.
pub fn draw_text(image: &mut RgbImage, text: &str, x: f32, baseline: f32, size: f32) {
    draw_text_spaced(image, text, x, baseline, size, WORD_SPACING);
}

/// [`draw_text`] with word gaps of `word_spacing` spaces.
pub fn draw_text_spaced(
    image: &mut RgbImage,
    text: &str,
    x: f32,
    baseline: f32,
    size: f32,
    word_spacing: f32,
) {
    let font = font();
    let scaled = font.as_scaled(PxScale::from(size));
    let mut caret = x;
    let mut previous = None;
    for character in text.chars() {
        let id = scaled.glyph_id(character);
        if let Some(previous) = previous {
            caret += scaled.kern(previous, id);
        }
        let glyph = id.with_scale_and_position(size, point(caret, baseline));
        let spacing = if character == ' ' { word_spacing } else { 1.0 };
        caret += scaled.h_advance(id) * spacing;
        previous = Some(id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let (px, py) = (
                bounds.min.x as i64 + i64::from(gx),
                bounds.min.y as i64 + i64::from(gy),
            );
            if px < 0 || py < 0 || px >= i64::from(image.width()) || py >= i64::from(image.height())
            {
                return;
            }
            let pixel = image.get_pixel_mut(px as u32, py as u32);
            let ink = (255.0 * (1.0 - coverage.clamp(0.0, 1.0))).round() as u8;
            *pixel = Rgb(pixel.0.map(|value| value.min(ink)));
        });
    }
}

/// The test images by name: "HELLO WORLD" alone (in a batch with long lines the recognizer
/// pads it and, like rapidocr, then drops its space), and a three-line paragraph.
pub fn test_images() -> [(&'static str, RgbImage, &'static [&'static str]); 2] {
    let mut title = RgbImage::from_pixel(600, 120, Rgb([255, 255, 255]));
    draw_text(&mut title, PAGE_LINES[0], 40.0, 70.0, 28.0);
    // Not much flatter: the detector scales the shorter side up to 736 px, and much larger
    // factors make it miss lines and the recognizer miss spaces (rapidocr alike).
    let mut paragraph = RgbImage::from_pixel(900, 300, Rgb([255, 255, 255]));
    for (index, line) in PAGE_LINES[1..].iter().enumerate() {
        draw_text(
            &mut paragraph,
            line,
            40.0,
            150.0 + 50.0 * index as f32,
            28.0,
        );
    }
    [
        ("title", title, &PAGE_LINES[..1]),
        ("paragraph", paragraph, &PAGE_LINES[1..]),
    ]
}

/// A 1280 x 960 page of 16 text lines (for throughput).
pub fn large_page() -> RgbImage {
    let mut image = RgbImage::from_pixel(1280, 960, Rgb([255, 255, 255]));
    for row in 0..16 {
        let line = PAGE_LINES[1 + row % 3];
        draw_text(&mut image, line, 60.0, 60.0 + 56.0 * row as f32, 30.0);
    }
    image
}

/// FNV-1a 64 of the RGB bytes, to check that `reference.json` was made from this image.
pub fn pixels_fnv1a64(image: &RgbImage) -> u64 {
    image
        .as_raw()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}
