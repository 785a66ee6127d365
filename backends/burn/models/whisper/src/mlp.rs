//! The transformer feed-forward block: Linear → GELU → Linear.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::Tensor;
use omnigate_cpu_ops::{gelu, linear_rows};

use crate::WhisperError;
use crate::weights::WeightLoader;

/// Whisper's MLP (`ffn/linear_0`, exact erf GELU, `ffn/linear_1`).
#[derive(Module, Debug)]
pub(crate) struct Mlp {
    expand: Linear,
    contract: Linear,
}

impl Mlp {
    /// Loads `{scope}/linear_0` and `{scope}/linear_1`; the hidden width comes from the file.
    pub fn load(
        weights: &WeightLoader<'_>,
        scope: &str,
        d_model: usize,
    ) -> Result<Self, WhisperError> {
        let expand_name = format!("{scope}/linear_0");
        let d_hidden = weights.shape(&format!("{expand_name}/weight"))?[0];
        Ok(Self {
            expand: weights.linear(&expand_name, d_model, d_hidden)?,
            contract: weights.linear(&format!("{scope}/linear_1"), d_hidden, d_model)?,
        })
    }

    /// `[.., d_model]` → `[.., d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Result<Tensor<3>, WhisperError> {
        Ok(linear_rows(
            &self.contract,
            gelu(linear_rows(&self.expand, x))?,
        ))
    }
}
