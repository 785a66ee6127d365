//! End-to-end OCR on the real PP-OCRv4 weights.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::{PAGE_LINES, large_page, ocr, pixels_fnv1a64, rendered_image_path, test_images};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    images: std::collections::HashMap<String, ReferenceImage>,
}

#[derive(Deserialize)]
struct ReferenceImage {
    pixels_fnv1a64: String,
    lines: Vec<ReferenceLine>,
}

#[derive(Deserialize)]
struct ReferenceLine {
    bbox: [[f32; 2]; 4],
    text: String,
    score: f32,
}

#[test]
fn rendered_text_is_read_exactly_in_reading_order() {
    for (name, image, expected) in test_images() {
        // Written for testdata/reference.py, which must see the very same pixels.
        image.save(rendered_image_path(name)).unwrap();
        let started = Instant::now();
        let lines = ocr().recognize(&image).unwrap();
        let elapsed = started.elapsed();
        let rate = 1.0 / elapsed.as_secs_f64();
        eprintln!(
            "{name} {}x{}: {elapsed:?} ({rate:.2} images/s)",
            image.width(),
            image.height()
        );
        let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
        assert_eq!(texts, expected);
        for line in &lines {
            assert!(line.confidence > 0.8, "{line:?}");
            let [top_left, top_right, bottom_right, bottom_left] = line.bbox;
            assert!(
                top_left[0] < top_right[0] && top_left[1] < bottom_left[1],
                "{line:?}"
            );
            assert!(bottom_right[0] <= image.width() as f32);
            assert!(bottom_right[1] <= image.height() as f32);
        }
    }
}

#[test]
fn agrees_with_rapidocr_reference() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/reference.json");
    let json = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}; create it with testdata/reference.py"));
    let reference: Reference = serde_json::from_str(&json).unwrap();
    for (name, image, _) in test_images() {
        let expected = &reference.images[name];
        assert_eq!(
            expected.pixels_fnv1a64,
            pixels_fnv1a64(&image).to_string(),
            "testdata/reference.json was made from another {name} image: rerun reference.py"
        );
        let lines = ocr().recognize(&image).unwrap();
        assert_eq!(lines.len(), expected.lines.len());
        for (ours, theirs) in lines.iter().zip(&expected.lines) {
            assert_eq!(ours.text, theirs.text);
            let score_gap = (ours.confidence - theirs.score).abs();
            assert!(score_gap < 0.02, "{ours:?} vs score {}", theirs.score);
            for (a, b) in ours.bbox.iter().zip(&theirs.bbox) {
                let off = (a[0] - b[0]).abs().max((a[1] - b[1]).abs());
                assert!(
                    off <= 3.0,
                    "box {:?} vs reference {:?}",
                    ours.bbox,
                    theirs.bbox
                );
            }
        }
    }
}

#[test]
fn batch_gives_each_image_its_own_lines() {
    let [(_, title, _), (_, paragraph, expected)] = test_images();
    let flipped = image::imageops::rotate180(&paragraph);
    let blank = image::RgbImage::from_pixel(200, 100, image::Rgb([255, 255, 255]));
    let started = Instant::now();
    let results = ocr()
        .recognize_batch(&[&paragraph, &blank, &flipped, &title])
        .unwrap();
    eprintln!("batch of 4: {:?}", started.elapsed());
    let texts = |lines: &[omnigate_ppocr::TextLine]| -> Vec<String> {
        lines.iter().map(|line| line.text.clone()).collect()
    };
    assert_eq!(results.len(), 4);
    assert_eq!(texts(&results[0]), expected);
    assert!(results[1].is_empty(), "{:?}", results[1]);
    // Upside down: the classifier turns each line it finds; reading order is then bottom-up.
    // The detector misses one of the three lines of this page upside down, so only what it
    // reads is checked: real lines, right way round.
    let upside_down = texts(&results[2]);
    assert!(upside_down.len() >= 2, "{upside_down:?}");
    assert!(
        upside_down.iter().all(|l| expected.contains(&l.as_str())),
        "{upside_down:?}"
    );
    assert_eq!(results[3].len(), 1);
    // Company changes nothing: each image reads as it does alone.
    for (image, batched) in [&paragraph, &blank, &flipped, &title]
        .into_iter()
        .zip(&results)
    {
        assert_eq!(texts(&ocr().recognize(image).unwrap()), texts(batched));
    }
}

#[test]
fn large_page_throughput() {
    let page = large_page();
    let ocr = ocr();
    ocr.recognize(&page).unwrap(); // warm-up
    let started = Instant::now();
    let lines = ocr.recognize(&page).unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "page 1280x960, {} lines: {elapsed:?} ({:.2} images/s)",
        lines.len(),
        1.0 / elapsed.as_secs_f64()
    );
    assert_eq!(lines.len(), 16);
    for (row, line) in lines.iter().enumerate() {
        assert_eq!(line.text, PAGE_LINES[1 + row % 3]);
    }
}
