//! Multi-head attention shared by the encoder and the decoder.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor, TensorData};
use omnigate_cpu_ops::{linear_rows, softmax_last_dim};

use crate::WhisperError;
use crate::weights::WeightLoader;

/// Attention scores materialized at once by [`MultiHeadAttention::forward_self`] (1 MB of f32,
/// ~29 query rows of a 30 s window's 6 heads): the softmax's three passes over them stay in
/// cache, and the buffer is reused by the allocator rather than mapped and page-faulted afresh
/// for every chunk (measured on beckett.wav: 32 MB chunks were 40% slower than 1 MB ones).
const SCORES_PER_CHUNK: usize = 1 << 18;

/// Keys and values split into heads, `[batch, heads, length, head_dim]` each.
#[derive(Debug, Clone)]
pub(crate) struct KeyValue {
    pub keys: Tensor<4>,
    pub values: Tensor<4>,
}

impl KeyValue {
    /// Keeps only the batch rows `rows` (in that order).
    pub fn select_rows(self, rows: &Tensor<1, burn::tensor::Int>) -> Self {
        Self {
            keys: self.keys.select(0, rows.clone()),
            values: self.values.select(0, rows.clone()),
        }
    }
}

/// A projection straight into per-head layout: `[batch, length, d_model]` →
/// `[batch, heads, length, head_dim]`, as one broadcast batched matmul.
///
/// Projecting with a plain `Linear` and then splitting heads leaves a strided view, which
/// flex's attention copies on every call; the cross-attention keys and values are reused
/// for every decoding step, so producing them contiguous once saves a copy per step.
#[derive(Module, Debug)]
pub(crate) struct HeadProjection {
    /// `[heads, d_model, head_dim]`.
    weight: Param<Tensor<3>>,
    /// `[heads, 1, head_dim]`.
    bias: Param<Tensor<3>>,
}

impl HeadProjection {
    /// From torch-layout rows `[d_model (out), d_model (in)]`, output rows head-major.
    pub fn from_rows(rows: &[f32], bias: &[f32], n_heads: usize, device: &Device) -> Self {
        let d_model = bias.len();
        let head_dim = d_model / n_heads;
        // weight[h][i][j] = rows[h * head_dim + j][i]
        let mut weight = vec![0.0; d_model * d_model];
        for (out_row, row) in rows.chunks_exact(d_model).enumerate() {
            let (head, j) = (out_row / head_dim, out_row % head_dim);
            for (i, &w) in row.iter().enumerate() {
                weight[(head * d_model + i) * head_dim + j] = w;
            }
        }
        Self {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(weight, [n_heads, d_model, head_dim]),
                device,
            )),
            bias: Param::from_tensor(Tensor::from_data(
                TensorData::new(bias.to_vec(), [n_heads, 1, head_dim]),
                device,
            )),
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<4> {
        x.unsqueeze_dim::<4>(1)
            .matmul(self.weight.val().unsqueeze::<4>())
            + self.bias.val().unsqueeze::<4>()
    }
}

/// Whisper's attention: separate Q, K, V and output projections, scale 1/√head_dim.
#[derive(Module, Debug)]
pub(crate) struct MultiHeadAttention {
    query: HeadProjection,
    key: HeadProjection,
    value: HeadProjection,
    out: Linear,
}

impl MultiHeadAttention {
    /// Self-attention from `{scope}/linear_0` (fused Q|K|V) and `{scope}/linear_1` (output).
    pub fn load_self(
        weights: &WeightLoader<'_>,
        scope: &str,
        d_model: usize,
        n_heads: usize,
    ) -> Result<Self, WhisperError> {
        let [query, key, value]: [HeadProjection; 3] = weights
            .fused_head_projections(&format!("{scope}/linear_0"), d_model, n_heads, 3)?
            .try_into()
            .map_err(|_| fused_split_error(scope))?;
        let out = weights.linear(&format!("{scope}/linear_1"), d_model, d_model)?;
        Ok(Self {
            query,
            key,
            value,
            out,
        })
    }

    /// Cross-attention from `{scope}/linear_0` (Q), `{scope}/linear_1` (fused K|V) and
    /// `{scope}/linear_2` (output).
    pub fn load_cross(
        weights: &WeightLoader<'_>,
        scope: &str,
        d_model: usize,
        n_heads: usize,
    ) -> Result<Self, WhisperError> {
        let [query]: [HeadProjection; 1] = weights
            .fused_head_projections(&format!("{scope}/linear_0"), d_model, n_heads, 1)?
            .try_into()
            .map_err(|_| fused_split_error(scope))?;
        let [key, value]: [HeadProjection; 2] = weights
            .fused_head_projections(&format!("{scope}/linear_1"), d_model, n_heads, 2)?
            .try_into()
            .map_err(|_| fused_split_error(scope))?;
        let out = weights.linear(&format!("{scope}/linear_2"), d_model, d_model)?;
        Ok(Self {
            query,
            key,
            value,
            out,
        })
    }

    /// Projects `source` `[batch, length, d_model]` to per-head keys and values.
    pub fn key_value(&self, source: Tensor<3>) -> KeyValue {
        KeyValue {
            keys: self.key.forward(source.clone()),
            values: self.value.forward(source),
        }
    }

    /// Attention of `x` over itself (no mask: the encoder sees the whole window), as two
    /// matrix products around [`softmax_last_dim`] on chunks of query rows.
    ///
    /// burn's fused attention would spend most of its time in a scalar `exp` over the
    /// 1500 × 1500 scores of each head; chunking bounds the scores held at once.
    pub fn forward_self(&self, x: Tensor<3>) -> Result<Tensor<3>, WhisperError> {
        let KeyValue { keys, values } = self.key_value(x.clone());
        let [batch, heads, length, head_dim] = keys.dims();
        let query = self.query.forward(x) * (head_dim as f32).powf(-0.5);
        let keys_t = keys.swap_dims(2, 3);
        let rows_per_chunk = (SCORES_PER_CHUNK / (batch * heads * length).max(1)).clamp(1, length);
        let mut context = Vec::with_capacity(length.div_ceil(rows_per_chunk));
        for start in (0..length).step_by(rows_per_chunk) {
            let rows = rows_per_chunk.min(length - start);
            let scores = query.clone().narrow(2, start, rows).matmul(keys_t.clone());
            let weights = softmax_last_dim(scores)?;
            context.push(weights.matmul(values.clone()));
        }
        Ok(linear_rows(&self.out, merge_heads(Tensor::cat(context, 2))))
    }

    /// Attention of the new positions `x` over `cache` extended by `x` itself; returns the
    /// output and the extended cache. With one new position per step no mask is needed.
    pub fn forward_cached(&self, x: Tensor<3>, cache: Option<KeyValue>) -> (Tensor<3>, KeyValue) {
        let new = self.key_value(x.clone());
        let kv = match cache {
            Some(past) => KeyValue {
                keys: Tensor::cat(vec![past.keys, new.keys], 2),
                values: Tensor::cat(vec![past.values, new.values], 2),
            },
            None => new,
        };
        (self.attend(x, &kv), kv)
    }

    /// Attention of the queries from `x` over precomputed keys and values.
    pub fn attend(&self, x: Tensor<3>, kv: &KeyValue) -> Tensor<3> {
        let q = self.query.forward(x);
        let context = attention(
            q,
            kv.keys.clone(),
            kv.values.clone(),
            None,
            None,
            AttentionModuleOptions::default(),
        );
        linear_rows(&self.out, merge_heads(context))
    }
}

/// `[batch, heads, length, head_dim]` → `[batch, length, d_model]`.
fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [batch, heads, length, head_dim] = x.dims();
    x.swap_dims(1, 2).reshape([batch, length, heads * head_dim])
}

fn fused_split_error(scope: &str) -> WhisperError {
    WhisperError::BadVariable {
        name: scope.to_owned(),
        problem: "fused projection did not split into the expected parts".into(),
    }
}
