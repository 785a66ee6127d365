//! PP-OCRv4 OCR on burn: PaddleOCR's text detection (DB), direction classification and
//! recognition (SVTR-LCNet, CTC) networks, with rapidocr's pre- and postprocessing.
//!
//! The network code in `src/generated/` was produced by burn-onnx from the ONNX files of the
//! `rapidocr-onnxruntime` 1.4.4 wheel; the weights are read from those same files at
//! [`PpOcr::load`].
//!
//! ```no_run
//! # fn main() -> Result<(), omnigate_ppocr::OcrError> {
//! let device = burn::tensor::Device::default();
//! let ocr = omnigate_ppocr::PpOcr::load(std::path::Path::new("models"), &device)?;
//! let image = image::RgbImage::new(640, 480);
//! for line in ocr.recognize(&image)? {
//!     println!("{} ({:.2}) at {:?}", line.text, line.confidence, line.bbox);
//! }
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "codegen")]
pub mod codegen;
mod error;
mod generated;
mod models;
mod onnx_file;
mod pipeline;
pub mod postprocess;
mod preprocess;
mod stages;

pub use error::OcrError;
pub use pipeline::{PpOcr, TextLine};
