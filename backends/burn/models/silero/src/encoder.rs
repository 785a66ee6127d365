//! The convolutional part of the network: STFT magnitude front end and the four-layer conv
//! encoder. It does not depend on the LSTM state, so it runs on every chunk of a block at once,
//! as five matmuls (see [`crate::dense_conv`] for why the convolutions are dense matrices).

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::VadError;
use crate::dense_conv::{ConvShape, conv_matrix, tiled_bias};
use crate::framing::{FFT_SIZE, FRAMES_PER_CHUNK};
use crate::weights::{WeightsFile, upload};
use omnigate_cpu_ops::transposed;

/// Frequency bins of a 256-point real FFT; the basis holds their real then imaginary parts.
const FREQUENCY_BINS: usize = FFT_SIZE / 2 + 1;
/// Width of the encoder's output, the LSTM's input.
pub(crate) const FEATURES: usize = 128;

/// One `Conv1d(kernel 3, padding 1)` + ReLU layer as a dense matrix on flattened rows.
struct ConvLayer {
    /// `[in_length * in_channels, out_length * out_channels]`.
    matrix: Tensor<2>,
    /// The bias repeated for each output time step.
    bias: Tensor<1>,
}

impl ConvLayer {
    fn load(
        file: &mut WeightsFile,
        name: &str,
        shape: ConvShape,
        device: &Device,
    ) -> Result<Self, VadError> {
        let weight = file.read(
            &format!("{name}.weight"),
            &[shape.out_channels, shape.in_channels, shape.kernel],
        )?;
        let bias = file.read(&format!("{name}.bias"), &[shape.out_channels])?;
        Ok(Self {
            matrix: upload(
                conv_matrix(&weight, shape),
                [shape.in_width(), shape.out_width()],
                device,
            ),
            bias: upload(tiled_bias(&bias, shape), [shape.out_width()], device),
        })
    }

    fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        relu(input.matmul(self.matrix.clone()) + self.bias.clone().unsqueeze::<2>())
    }
}

/// The encoder layers as silero builds them: kernel 3, padding 1, strides 1, 2, 2, 1, on the
/// 4 frames of a chunk (4 → 4 → 2 → 1 → 1 time steps).
fn encoder_shapes() -> [ConvShape; 4] {
    let layer = |in_channels, out_channels, stride, in_length| ConvShape {
        in_channels,
        out_channels,
        kernel: 3,
        stride,
        padding: 1,
        in_length,
    };
    [
        layer(FREQUENCY_BINS, 128, 1, FRAMES_PER_CHUNK),
        layer(128, 64, 2, FRAMES_PER_CHUNK),
        layer(64, 64, 2, FRAMES_PER_CHUNK / 2),
        layer(64, FEATURES, 1, 1),
    ]
}

/// STFT front end followed by the conv encoder.
pub(crate) struct Encoder {
    /// `[256, 2 * 129]`: the windowed real and imaginary DFT bases (`stft_conv.weight`,
    /// a `[258, 1, 256]` conv kernel) as a matmul right-hand side.
    stft_basis: Tensor<2>,
    layers: [ConvLayer; 4],
}

impl Encoder {
    /// Reads `stft_conv.weight` and `conv1`..`conv4` from the weights file.
    pub(crate) fn load(file: &mut WeightsFile, device: &Device) -> Result<Self, VadError> {
        let basis = file.read("stft_conv.weight", &[2 * FREQUENCY_BINS, 1, FFT_SIZE])?;
        let [conv1, conv2, conv3, conv4] = encoder_shapes();
        Ok(Self {
            stft_basis: upload(
                transposed(&basis, 2 * FREQUENCY_BINS, FFT_SIZE),
                [FFT_SIZE, 2 * FREQUENCY_BINS],
                device,
            ),
            layers: [
                ConvLayer::load(file, "conv1", conv1, device)?,
                ConvLayer::load(file, "conv2", conv2, device)?,
                ConvLayer::load(file, "conv3", conv3, device)?,
                ConvLayer::load(file, "conv4", conv4, device)?,
            ],
        })
    }

    /// `[chunks * 4, 256]` STFT frames to `[chunks, 128]` features.
    pub(crate) fn forward(&self, frames: Tensor<2>) -> Tensor<2> {
        let [frame_count, _] = frames.dims();
        let spectrum = frames.matmul(self.stft_basis.clone());
        let real = spectrum.clone().narrow(1, 0, FREQUENCY_BINS);
        let imaginary = spectrum.narrow(1, FREQUENCY_BINS, FREQUENCY_BINS);
        // Plain magnitude, no epsilon: the reference graph takes sqrt(re² + im²).
        let magnitude = (real.square() + imaginary.square()).sqrt();
        // One row per chunk, its frames one after another: the time-major layout of the layers.
        let mut hidden = magnitude.reshape([
            frame_count / FRAMES_PER_CHUNK,
            FRAMES_PER_CHUNK * FREQUENCY_BINS,
        ]);
        for layer in &self.layers {
            hidden = layer.forward(hidden);
        }
        hidden
    }
}
