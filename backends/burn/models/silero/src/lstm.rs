//! The LSTM cell that carries context from chunk to chunk.
//!
//! PyTorch's `LSTMCell`: gates `[i, f, g, o] = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh`. The input half
//! depends only on the encoder's features, so [`LstmCell::project_inputs`] computes it for every
//! chunk of a block in one matmul; the per-step work is left with the recurrent matmul and the
//! gate arithmetic.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use crate::VadError;
use crate::encoder::FEATURES;
use crate::weights::{WeightsFile, upload};
use omnigate_cpu_ops::transposed;

/// Width of the hidden and cell state.
pub(crate) const HIDDEN: usize = 128;
/// Four gates of `HIDDEN` each.
const GATES: usize = 4 * HIDDEN;

/// The hidden and cell state of each clip in the batch, `[clips, 128]` each.
pub(crate) struct LstmState {
    pub(crate) hidden: Tensor<2>,
    cell: Tensor<2>,
}

impl LstmState {
    /// The all-zero state silero starts every clip with.
    pub(crate) fn zeros(clips: usize, device: &Device) -> Self {
        Self {
            hidden: Tensor::zeros([clips, HIDDEN], device),
            cell: Tensor::zeros([clips, HIDDEN], device),
        }
    }

    /// The state of the first `clips` clips only (the ones with chunks left).
    pub(crate) fn keep_first(self, clips: usize) -> Self {
        if self.hidden.dims()[0] == clips {
            return self;
        }
        Self {
            hidden: self.hidden.narrow(0, 0, clips),
            cell: self.cell.narrow(0, 0, clips),
        }
    }
}

/// `lstm_cell` of the safetensors file, with weights laid out for `x · W` matmuls.
pub(crate) struct LstmCell {
    /// `W_ihᵀ`, `[128, 512]`.
    input_weight: Tensor<2>,
    /// `W_hhᵀ`, `[128, 512]`.
    hidden_weight: Tensor<2>,
    /// `b_ih + b_hh`, folded once at load.
    bias: Tensor<1>,
}

impl LstmCell {
    /// Reads `lstm_cell.{weight_ih, weight_hh, bias_ih, bias_hh}`.
    pub(crate) fn load(file: &mut WeightsFile, device: &Device) -> Result<Self, VadError> {
        let input_weight = file.read("lstm_cell.weight_ih", &[GATES, FEATURES])?;
        let hidden_weight = file.read("lstm_cell.weight_hh", &[GATES, HIDDEN])?;
        let mut bias = file.read("lstm_cell.bias_ih", &[GATES])?;
        let hidden_bias = file.read("lstm_cell.bias_hh", &[GATES])?;
        for (sum, extra) in bias.iter_mut().zip(hidden_bias) {
            *sum += extra;
        }
        Ok(Self {
            input_weight: upload(
                transposed(&input_weight, GATES, FEATURES),
                [FEATURES, GATES],
                device,
            ),
            hidden_weight: upload(
                transposed(&hidden_weight, GATES, HIDDEN),
                [HIDDEN, GATES],
                device,
            ),
            bias: upload(bias, [GATES], device),
        })
    }

    /// The input half of the gates, `[rows, 128]` features to `[rows, 512]`, biases included.
    pub(crate) fn project_inputs(&self, features: Tensor<2>) -> Tensor<2> {
        features.matmul(self.input_weight.clone()) + self.bias.clone().unsqueeze::<2>()
    }

    /// One time step for a batch of clips: `projected` is their `[clips, 512]` input half.
    pub(crate) fn step(&self, projected: Tensor<2>, state: LstmState) -> LstmState {
        let gates = projected + state.hidden.matmul(self.hidden_weight.clone());
        // One sigmoid over all four gates (the g part is unused) costs less than three calls.
        let activated = sigmoid(gates.clone());
        let input_gate = activated.clone().narrow(1, 0, HIDDEN);
        let forget_gate = activated.clone().narrow(1, HIDDEN, HIDDEN);
        let output_gate = activated.narrow(1, 3 * HIDDEN, HIDDEN);
        let candidate = gates.narrow(1, 2 * HIDDEN, HIDDEN).tanh();
        let cell = forget_gate * state.cell + input_gate * candidate;
        let hidden = output_gate * cell.clone().tanh();
        LstmState { hidden, cell }
    }
}
