//! A linear layer's weight matrix, held the way its device multiplies fastest: on burn's CPU
//! backend in the file's blocks, multiplied by [`QMatrix`] (a decoding step reads ~5× fewer
//! bytes than from `f32`); on a GPU dequantized to an `f32` tensor for burn's kernels.

use burn::tensor::{Device, Tensor, TensorData};
use omnigate_cpu_ops::{runs_on_host, transposed};

use crate::SmolLmError;
use crate::gguf::{GgufFile, TensorType};
use crate::qmatmul::{BlockFormat, QMatrix};
use crate::quant::dequantize;

/// `x · W` for `x` `[n, in]`.
#[derive(Debug)]
pub(crate) enum Projection {
    /// Host blocks, `[out, in]`.
    Quantized(QMatrix),
    /// `[in, out]` on the device.
    Dense(Tensor<2>),
}

impl Projection {
    /// The `[out rows of in]` matrices `names` (each with its `out`), concatenated along `out`
    /// (Q, K and V as one product).
    pub fn load(
        file: &GgufFile,
        names: &[(&str, usize)],
        d_in: usize,
        device: &Device,
    ) -> Result<Self, SmolLmError> {
        let mut parts = Vec::with_capacity(names.len());
        for &(name, d_out) in names {
            let (info, data) = file.tensor_shaped(name, &[d_in, d_out])?;
            parts.push((name, info.kind, d_out, data));
        }
        let formats: Option<Vec<BlockFormat>> = parts
            .iter()
            .map(|&(_, kind, _, _)| block_format(kind))
            .collect();
        match formats {
            Some(formats) if runs_on_host(device) => {
                let mut matrices = Vec::with_capacity(parts.len());
                for (&(name, _, d_out, data), format) in parts.iter().zip(formats) {
                    let matrix = QMatrix::from_ggml(format, d_out, d_in, data).map_err(|e| {
                        SmolLmError::Tensor {
                            name: name.to_owned(),
                            problem: e.to_string(),
                        }
                    })?;
                    matrices.push(matrix);
                }
                QMatrix::stack(matrices)
                    .map(Self::Quantized)
                    .ok_or_else(|| SmolLmError::Tensor {
                        name: names
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(" + "),
                        problem: "fused matrices differ in block format".into(),
                    })
            }
            _ => {
                let mut rows = Vec::new();
                for &(_, kind, _, data) in &parts {
                    rows.extend(dequantize(kind, data));
                }
                let d_out = names.iter().map(|(_, d)| d).sum();
                Ok(Self::Dense(Tensor::from_data(
                    TensorData::new(transposed(&rows, d_out, d_in), [d_in, d_out]),
                    device,
                )))
            }
        }
    }

    /// `x · W`, `[n, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Result<Tensor<2>, SmolLmError> {
        match self {
            Self::Quantized(matrix) => {
                let (n, device) = (x.dims()[0], x.device());
                let y = matrix.matmul(&host_values(x)?);
                Ok(Tensor::from_data(
                    TensorData::new(y, [n, matrix.rows()]),
                    &device,
                ))
            }
            Self::Dense(weight) => Ok(x.matmul(weight.clone())),
        }
    }
}

/// The block format of a `kind` the quantized product runs on.
pub(crate) fn block_format(kind: TensorType) -> Option<BlockFormat> {
    match kind {
        TensorType::Q4_1 => Some(BlockFormat::Q4_1),
        TensorType::Q8_0 => Some(BlockFormat::Q8_0),
        TensorType::F32 | TensorType::F16 => None,
    }
}

/// A tensor's values, read back to the host.
pub(crate) fn host_values<const D: usize>(x: Tensor<D>) -> Result<Vec<f32>, SmolLmError> {
    x.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| SmolLmError::TensorRead(format!("{e:?}")))
}
