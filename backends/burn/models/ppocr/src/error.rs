//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong loading the models or running OCR.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// A model file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A model file is not a valid ONNX protobuf.
    #[error("{path} is not a valid ONNX model: {source}")]
    OnnxDecode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: prost::DecodeError,
    },
    /// A model file lacks something the pipeline needs, or holds it in an unexpected form.
    #[error("{path}: {problem}")]
    BadModel {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the tensor or metadata key).
        problem: String,
    },
    /// The weights did not fit the network generated from the model.
    #[error("{path}: weights do not fit the generated network: {problem}")]
    WeightsMismatch {
        /// The file.
        path: PathBuf,
        /// Which tensors are missing or mis-shaped.
        problem: String,
    },
    /// A network returned a tensor that could not be read back as `f32` values.
    #[error("reading the {stage} output: {problem}")]
    Output {
        /// `detection`, `classification` or `recognition`.
        stage: &'static str,
        /// Why.
        problem: String,
    },
    /// The input image cannot be processed.
    #[error("image of {width}x{height} pixels: {problem}")]
    BadImage {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Why.
        problem: &'static str,
    },
}
