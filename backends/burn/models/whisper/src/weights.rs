//! Builds burn modules from CTranslate2 variables (f16 → f32, layout changes, fused splits).

use burn::module::Param;
use burn::nn::conv::Conv1d;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear, PaddingConfig1d};
use burn::tensor::{Device, Tensor, TensorData};
use omnigate_cpu_ops::transposed;

use crate::WhisperError;
use crate::attention::HeadProjection;
use crate::ct2::Ct2Model;

/// Reads variables of one `model.bin` onto one device.
pub(crate) struct WeightLoader<'a> {
    model: &'a Ct2Model,
    device: &'a Device,
}

impl<'a> WeightLoader<'a> {
    /// A loader placing tensors on `device`.
    pub fn new(model: &'a Ct2Model, device: &'a Device) -> Self {
        Self { model, device }
    }

    /// The file's shape of `name`.
    pub fn shape(&self, name: &str) -> Result<&[usize], WhisperError> {
        self.model.shape(name)
    }

    /// An integer configuration scalar such as `encoder/num_heads`, as a positive count.
    pub fn count(&self, name: &str) -> Result<usize, WhisperError> {
        let value = self.model.int_scalar(name)?;
        usize::try_from(value)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| WhisperError::BadVariable {
                name: name.to_owned(),
                problem: format!("expected a positive count, found {value}"),
            })
    }

    /// How many `{scope}/layer_N` blocks exist (N = 0, 1, … without gaps).
    pub fn layer_count(&self, scope: &str) -> usize {
        (0..)
            .take_while(|i| {
                self.model
                    .contains(&format!("{scope}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    }

    /// A float tensor of exactly `shape`.
    pub fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Tensor<D>, WhisperError> {
        let values = self.model.f32_values(name, &shape)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    /// `{scope}/weight` `[d_out, d_in]` and `{scope}/bias` as a burn [`Linear`].
    pub fn linear(&self, scope: &str, d_in: usize, d_out: usize) -> Result<Linear, WhisperError> {
        let weight = self
            .model
            .f32_values(&format!("{scope}/weight"), &[d_out, d_in])?;
        let bias = self.model.f32_values(&format!("{scope}/bias"), &[d_out])?;
        Ok(Linear {
            // burn multiplies `x · W` with W `[d_in, d_out]`; CTranslate2 (like torch)
            // stores `[d_out, d_in]`. Transposing once here keeps every matmul contiguous.
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(transposed(&weight, d_out, d_in), [d_in, d_out]),
                self.device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(bias, [d_out]),
                self.device,
            ))),
        })
    }

    /// Splits a fused projection `{scope}/weight` `[n_parts * d_model, d_model]` (e.g. the
    /// rows of Q, K and V stacked) into one per-head projection per part.
    pub fn fused_head_projections(
        &self,
        scope: &str,
        d_model: usize,
        n_heads: usize,
        n_parts: usize,
    ) -> Result<Vec<HeadProjection>, WhisperError> {
        let weight_name = format!("{scope}/weight");
        let weight = self
            .model
            .f32_values(&weight_name, &[n_parts * d_model, d_model])?;
        let bias = self
            .model
            .f32_values(&format!("{scope}/bias"), &[n_parts * d_model])?;
        if n_heads == 0 || !d_model.is_multiple_of(n_heads) {
            return Err(WhisperError::BadVariable {
                name: weight_name,
                problem: format!("width {d_model} does not split into {n_heads} heads"),
            });
        }
        Ok(weight
            .chunks_exact(d_model * d_model)
            .zip(bias.chunks_exact(d_model))
            .map(|(rows, bias)| HeadProjection::from_rows(rows, bias, n_heads, self.device))
            .collect())
    }

    /// `{scope}/gamma` and `{scope}/beta` as a burn [`LayerNorm`] (ε = 1e-5, as in Whisper).
    pub fn layer_norm(&self, scope: &str, d_model: usize) -> Result<LayerNorm, WhisperError> {
        let mut norm = LayerNormConfig::new(d_model).init(self.device);
        norm.gamma = Param::from_tensor(self.tensor(&format!("{scope}/gamma"), [d_model])?);
        norm.beta = Some(Param::from_tensor(
            self.tensor(&format!("{scope}/beta"), [d_model])?,
        ));
        Ok(norm)
    }

    /// A 1-D convolution with kernel 3 and padding 1, as in Whisper's audio stem.
    pub fn conv1d_k3(
        &self,
        scope: &str,
        channels_in: usize,
        channels_out: usize,
        stride: usize,
    ) -> Result<Conv1d, WhisperError> {
        const KERNEL: usize = 3;
        Ok(Conv1d {
            weight: Param::from_tensor(self.tensor(
                &format!("{scope}/weight"),
                [channels_out, channels_in, KERNEL],
            )?),
            bias: Some(Param::from_tensor(
                self.tensor(&format!("{scope}/bias"), [channels_out])?,
            )),
            stride,
            kernel_size: KERNEL,
            dilation: 1,
            groups: 1,
            padding: PaddingConfig1d::Explicit(1, 1),
        })
    }

    /// A `[n, d]` table as a burn [`Embedding`].
    pub fn embedding(&self, name: &str, n: usize, d: usize) -> Result<Embedding, WhisperError> {
        Ok(Embedding {
            weight: Param::from_tensor(self.tensor(name, [n, d])?),
        })
    }
}
