//! Regenerates `src/generated/` from the PaddleOCR ONNX files.
//!
//! ```sh
//! cargo run -p omnigate-ppocr --features codegen --example generate_models -- [MODELS_DIR]
//! ```
//! MODELS_DIR defaults to the extracted rapidocr-onnxruntime 1.4.4 wheel in the cache
//! (`.ci/fetch-models` puts it there).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let models_dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => omnigate_weights::pypi_dir("rapidocr-onnxruntime", "1.4.4")
            .join("rapidocr_onnxruntime/models"),
    };
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/generated");
    std::fs::create_dir_all(&out_dir)?;
    omnigate_ppocr::codegen::generate(&models_dir, &out_dir)?;
    println!("wrote {}", out_dir.display());
    Ok(())
}
