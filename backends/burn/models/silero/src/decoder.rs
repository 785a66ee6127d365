//! The decoder: ReLU, a 1×1 convolution to one logit, sigmoid.
//!
//! The reference graph averages the sigmoid over the time axis, which has length one after
//! the encoder, so the mean is the identity and is left out. The 1×1 conv is a `[128] → [1]`
//! linear map, applied to the hidden states of a whole block of steps at once.

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};

use crate::VadError;
use crate::lstm::HIDDEN;
use crate::weights::{WeightsFile, upload};

/// `final_conv` of the safetensors file.
pub(crate) struct Decoder {
    /// `[128, 1]`, the conv kernel as a matmul right-hand side.
    weight: Tensor<2>,
    bias: Tensor<1>,
}

impl Decoder {
    /// Reads `final_conv.{weight, bias}`.
    pub(crate) fn load(file: &mut WeightsFile, device: &Device) -> Result<Self, VadError> {
        // [1, 128, 1] row-major is already the [128, 1] column.
        let weight = file.read("final_conv.weight", &[1, HIDDEN, 1])?;
        Ok(Self {
            weight: upload(weight, [HIDDEN, 1], device),
            bias: file.tensor("final_conv.bias", [1], device)?,
        })
    }

    /// `[rows, 128]` hidden states to `[rows, 1]` speech probabilities.
    pub(crate) fn forward(&self, hidden: Tensor<2>) -> Tensor<2> {
        sigmoid(relu(hidden).matmul(self.weight.clone()) + self.bias.clone().unsqueeze::<2>())
    }
}
