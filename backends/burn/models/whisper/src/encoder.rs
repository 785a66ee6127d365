//! Whisper's audio encoder: conv stem, sinusoidal positions, pre-LN transformer blocks.

use burn::module::Module;
use burn::nn::LayerNorm;
use burn::nn::conv::Conv1d;
use burn::tensor::Tensor;
use omnigate_cpu_ops::gelu;

use crate::WhisperError;
use crate::attention::MultiHeadAttention;
use crate::mel::N_MELS;
use crate::mlp::Mlp;
use crate::weights::WeightLoader;

/// One pre-LN encoder block: `x + attn(ln(x))`, then `x + mlp(ln(x))`.
#[derive(Module, Debug)]
struct EncoderBlock {
    attention_norm: LayerNorm,
    attention: MultiHeadAttention,
    mlp_norm: LayerNorm,
    mlp: Mlp,
}

impl EncoderBlock {
    fn load(
        weights: &WeightLoader<'_>,
        scope: &str,
        d_model: usize,
        n_heads: usize,
    ) -> Result<Self, WhisperError> {
        Ok(Self {
            attention_norm: weights
                .layer_norm(&format!("{scope}/self_attention/layer_norm"), d_model)?,
            attention: MultiHeadAttention::load_self(
                weights,
                &format!("{scope}/self_attention"),
                d_model,
                n_heads,
            )?,
            mlp_norm: weights.layer_norm(&format!("{scope}/ffn/layer_norm"), d_model)?,
            mlp: Mlp::load(weights, &format!("{scope}/ffn"), d_model)?,
        })
    }

    fn forward(&self, x: Tensor<3>) -> Result<Tensor<3>, WhisperError> {
        let x = x.clone()
            + self
                .attention
                .forward_self(self.attention_norm.forward(x))?;
        Ok(x.clone() + self.mlp.forward(self.mlp_norm.forward(x))?)
    }
}

/// Mel frames `[batch, 80, 3000]` → audio features `[batch, 1500, d_model]`.
#[derive(Module, Debug)]
pub(crate) struct AudioEncoder {
    conv1: Conv1d,
    conv2: Conv1d,
    /// Whisper's fixed sinusoidal positions, stored in the file: `[1500, d_model]`.
    positions: Tensor<2>,
    blocks: Vec<EncoderBlock>,
    final_norm: LayerNorm,
}

impl AudioEncoder {
    /// Loads the `encoder/...` variables.
    pub fn load(weights: &WeightLoader<'_>) -> Result<Self, WhisperError> {
        let d_model = weights.shape("encoder/conv1/weight")?[0];
        let n_heads = weights.count("encoder/num_heads")?;
        let n_positions = weights.shape("encoder/position_encodings/encodings")?[0];
        let blocks = (0..weights.layer_count("encoder"))
            .map(|i| EncoderBlock::load(weights, &format!("encoder/layer_{i}"), d_model, n_heads))
            .collect::<Result<Vec<_>, _>>()?;
        if blocks.is_empty() {
            return Err(WhisperError::MissingVariable(
                "encoder/layer_0/ffn/linear_0/weight".into(),
            ));
        }
        Ok(Self {
            conv1: weights.conv1d_k3("encoder/conv1", N_MELS, d_model, 1)?,
            conv2: weights.conv1d_k3("encoder/conv2", d_model, d_model, 2)?,
            positions: weights.tensor(
                "encoder/position_encodings/encodings",
                [n_positions, d_model],
            )?,
            blocks,
            final_norm: weights.layer_norm("encoder/layer_norm", d_model)?,
        })
    }

    /// Encodes a batch of log-mel windows.
    pub fn forward(&self, mel: Tensor<3>) -> Result<Tensor<3>, WhisperError> {
        let x = gelu(self.conv1.forward(mel))?;
        let x = gelu(self.conv2.forward(x))?.swap_dims(1, 2);
        let [_, frames, _] = x.dims();
        let mut x = x + self.positions.clone().narrow(0, 0, frames).unsqueeze::<3>();
        for block in &self.blocks {
            x = block.forward(x)?;
        }
        Ok(self.final_norm.forward(x))
    }
}
