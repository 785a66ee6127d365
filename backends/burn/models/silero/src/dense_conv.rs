//! A `Conv1d` over a fixed, tiny input length, rewritten as one dense matrix.
//!
//! After the STFT each chunk is only 4 frames long, and the encoder shrinks that to 2 frames
//! and then to one. A convolution of such a short sequence is a small linear map on the flattened
//! `[time, channels]` activations, and as a dense matrix it runs as one large GEMM over all
//! chunks of a block — several times faster than a convolution kernel that handles every
//! length-4 sequence separately. The matrix holds some structural zeros (taps that fall into
//! the padding), a price well worth a single efficient matmul.
//!
//! Activations are laid out time-major: element `(t, c)` of a row is at `t * channels + c`.

/// Shape of a `Conv1d` applied to a sequence of known length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvShape {
    pub(crate) in_channels: usize,
    pub(crate) out_channels: usize,
    pub(crate) kernel: usize,
    pub(crate) stride: usize,
    pub(crate) padding: usize,
    /// Time steps of the input.
    pub(crate) in_length: usize,
}

impl ConvShape {
    /// Time steps of the output (PyTorch's formula, no dilation).
    pub(crate) fn out_length(&self) -> usize {
        (self.in_length + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Width of a flattened input row.
    pub(crate) fn in_width(&self) -> usize {
        self.in_length * self.in_channels
    }

    /// Width of a flattened output row.
    pub(crate) fn out_width(&self) -> usize {
        self.out_length() * self.out_channels
    }
}

/// The `[in_width, out_width]` matrix `M` with `conv(x) = x · M` for flattened rows, from a
/// PyTorch `[out_channels, in_channels, kernel]` weight.
pub(crate) fn conv_matrix(weight: &[f32], shape: ConvShape) -> Vec<f32> {
    let out_width = shape.out_width();
    let mut matrix = vec![0.0; shape.in_width() * out_width];
    for out_time in 0..shape.out_length() {
        for tap in 0..shape.kernel {
            // Input time of this tap; taps in the zero padding contribute nothing.
            let Some(in_time) = (out_time * shape.stride + tap)
                .checked_sub(shape.padding)
                .filter(|&t| t < shape.in_length)
            else {
                continue;
            };
            for out_channel in 0..shape.out_channels {
                for in_channel in 0..shape.in_channels {
                    let weight_index =
                        (out_channel * shape.in_channels + in_channel) * shape.kernel + tap;
                    let row = in_time * shape.in_channels + in_channel;
                    let column = out_time * shape.out_channels + out_channel;
                    matrix[row * out_width + column] = weight[weight_index];
                }
            }
        }
    }
    matrix
}

/// The per-channel `bias` repeated for every output time step.
pub(crate) fn tiled_bias(bias: &[f32], shape: ConvShape) -> Vec<f32> {
    bias.iter()
        .copied()
        .cycle()
        .take(shape.out_width())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook `Conv1d` on one `[channels, time]` sequence, returned time-major.
    fn direct_conv(input: &[Vec<f32>], weight: &[f32], bias: &[f32], shape: ConvShape) -> Vec<f32> {
        let mut out = Vec::new();
        for out_time in 0..shape.out_length() {
            for out_channel in 0..shape.out_channels {
                let mut sum = bias[out_channel];
                for tap in 0..shape.kernel {
                    let t = (out_time * shape.stride + tap) as isize - shape.padding as isize;
                    if t < 0 || t >= shape.in_length as isize {
                        continue;
                    }
                    for in_channel in 0..shape.in_channels {
                        sum += weight
                            [(out_channel * shape.in_channels + in_channel) * shape.kernel + tap]
                            * input[in_channel][t as usize];
                    }
                }
                out.push(sum);
            }
        }
        out
    }

    fn through_matrix(
        input: &[Vec<f32>],
        weight: &[f32],
        bias: &[f32],
        shape: ConvShape,
    ) -> Vec<f32> {
        let matrix = conv_matrix(weight, shape);
        let flat: Vec<f32> = (0..shape.in_length)
            .flat_map(|t| input.iter().map(move |channel| channel[t]))
            .collect();
        let out_width = shape.out_width();
        tiled_bias(bias, shape)
            .iter()
            .enumerate()
            .map(|(column, b)| {
                b + flat
                    .iter()
                    .enumerate()
                    .map(|(row, x)| x * matrix[row * out_width + column])
                    .sum::<f32>()
            })
            .collect()
    }

    fn check(shape: ConvShape) {
        let mut seed = 1u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        let weight: Vec<f32> = (0..shape.out_channels * shape.in_channels * shape.kernel)
            .map(|_| next())
            .collect();
        let bias: Vec<f32> = (0..shape.out_channels).map(|_| next()).collect();
        let input: Vec<Vec<f32>> = (0..shape.in_channels)
            .map(|_| (0..shape.in_length).map(|_| next()).collect())
            .collect();
        let expected = direct_conv(&input, &weight, &bias, shape);
        let actual = through_matrix(&input, &weight, &bias, shape);
        assert_eq!(expected.len(), actual.len());
        for (e, a) in expected.iter().zip(&actual) {
            assert!((e - a).abs() < 1e-5, "{e} vs {a}");
        }
    }

    #[test]
    fn matches_a_direct_convolution_for_the_encoder_shapes() {
        // conv1..conv4 of the encoder, scaled down in channels.
        for (stride, in_length) in [(1, 4), (2, 4), (2, 2), (1, 1)] {
            check(ConvShape {
                in_channels: 3,
                out_channels: 5,
                kernel: 3,
                stride,
                padding: 1,
                in_length,
            });
        }
    }

    #[test]
    fn output_lengths_follow_pytorch() {
        let shape = |stride, in_length| ConvShape {
            in_channels: 1,
            out_channels: 1,
            kernel: 3,
            stride,
            padding: 1,
            in_length,
        };
        assert_eq!(shape(1, 4).out_length(), 4);
        assert_eq!(shape(2, 4).out_length(), 2);
        assert_eq!(shape(2, 2).out_length(), 1);
        assert_eq!(shape(1, 1).out_length(), 1);
    }
}
