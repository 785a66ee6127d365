//! The three networks wrapped with their pre- and postprocessing.

mod classifier;
mod detector;
mod recognizer;

pub use classifier::Classifier;
pub use detector::Detector;
pub use recognizer::Recognizer;

use burn::tensor::Tensor;

use crate::error::OcrError;

/// A network output read back to the host as `f32` values.
fn read_f32<const D: usize>(tensor: Tensor<D>, stage: &'static str) -> Result<Vec<f32>, OcrError> {
    let problem = |problem: String| OcrError::Output { stage, problem };
    tensor
        .try_into_data()
        .map_err(|e| problem(e.to_string()))?
        .try_into_vec::<f32>()
        .map_err(|e| problem(format!("{e:?}")))
}
