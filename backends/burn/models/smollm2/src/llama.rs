//! The Llama architecture on burn: RMSNorm, rotary positions, grouped-query attention with a
//! per-sequence key/value cache, SwiGLU; tied input/output embeddings.
//!
//! [`Llama::forward`] runs one step for several sequences at once: every new token of every
//! sequence (a whole prompt for one joining, one token for one decoding) goes through the
//! linear layers as one matrix; only attention runs per sequence, over that sequence's cache.
//! That is what lets prompts join a running batch at the next step.

use burn::tensor::{Device, Int, Tensor, TensorData, activation};
use omnigate_cpu_ops::{runs_on_host, softmax_last_dim, transposed};

use crate::SmolLmError;
use crate::gguf::{GgufFile, TensorType};
use crate::projection::{Projection, host_values};
use crate::qmatmul::{BlockFormat, QMatrix};
use crate::quant::dequantize;

/// The hyperparameters, from the GGUF metadata (`llama.*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Hidden width.
    pub d_model: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (fewer: grouped-query attention).
    pub kv_heads: usize,
    /// SwiGLU hidden width.
    pub d_ff: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Longest sequence the model was trained for.
    pub context: usize,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// RMSNorm epsilon.
    pub eps: f32,
}

impl Config {
    fn from_gguf(file: &GgufFile) -> Result<Self, SmolLmError> {
        let arch = file.str("general.architecture")?;
        if arch != "llama" {
            return Err(SmolLmError::Metadata {
                key: "general.architecture".into(),
                problem: format!("{arch:?}, expected \"llama\""),
            });
        }
        let n = |key: &str| {
            let v = file.uint(&format!("llama.{key}"))?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v > 0 && v < 1 << 20)
                .ok_or_else(|| SmolLmError::Metadata {
                    key: format!("llama.{key}"),
                    problem: format!("{v} out of range"),
                })
        };
        let config = Self {
            d_model: n("embedding_length")?,
            layers: n("block_count")?,
            heads: n("attention.head_count")?,
            kv_heads: n("attention.head_count_kv")?,
            d_ff: n("feed_forward_length")?,
            vocab: file.array("tokenizer.ggml.tokens")?.len(),
            context: n("context_length")?,
            rope_base: file.float("llama.rope.freq_base").unwrap_or(10_000.0) as f32,
            eps: file.float("llama.attention.layer_norm_rms_epsilon")? as f32,
        };
        if !config.d_model.is_multiple_of(config.heads)
            || !config.heads.is_multiple_of(config.kv_heads)
            || !config.head_dim().is_multiple_of(2)
        {
            return Err(SmolLmError::Metadata {
                key: "llama.attention.head_count".into(),
                problem: format!("heads do not divide the width: {config:?}"),
            });
        }
        Ok(config)
    }

    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads
    }
}

/// One transformer block's weights.
#[derive(Debug)]
struct Block {
    attn_norm: Tensor<1>,
    /// Q | K | V fused: `d_model` → `d_model + 2·kv_width`.
    qkv: Projection,
    out: Projection,
    ffn_norm: Tensor<1>,
    /// gate | up fused: `d_model` → `2·d_ff`.
    gate_up: Projection,
    down: Projection,
}

/// One sequence's keys and values, per block `[kv_heads, length, head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<(Tensor<3>, Tensor<3>)>,
    len: usize,
}

impl KvCache {
    /// Tokens held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One sequence's part of a step: its new tokens and its cache.
#[derive(Debug)]
pub struct StepInput<'a> {
    /// Tokens to append (a prompt, or the last sampled token); at least one.
    pub tokens: &'a [u32],
    /// The sequence's cache, extended by the step.
    pub cache: &'a mut KvCache,
}

/// The model, loaded.
#[derive(Debug)]
pub struct Llama {
    config: Config,
    /// The Q8_0 embedding table `[vocab, d_model]` as in the file: rows are looked up on the
    /// host, and on the CPU backend it is the tied output projection too.
    embedding: QMatrix,
    /// The tied output projection `[d_model, vocab]` in f32, for a device other than the host.
    output: Option<Tensor<2>>,
    final_norm: Tensor<1>,
    blocks: Vec<Block>,
    /// `cos` and `sin` of every position's rotation angles, `[context, head_dim / 2]`.
    rope: (Tensor<2>, Tensor<2>),
    device: Device,
}

impl Llama {
    /// Loads the weights from a parsed GGUF file onto `device`.
    pub fn load(file: &GgufFile, device: &Device) -> Result<Self, SmolLmError> {
        let config = Config::from_gguf(file)?;
        let Config {
            d_model,
            vocab,
            d_ff,
            ..
        } = config;
        let kv_width = config.kv_heads * config.head_dim();
        let (embedding_info, embedding) =
            file.tensor_shaped("token_embd.weight", &[d_model, vocab])?;
        if embedding_info.kind != TensorType::Q8_0 {
            return Err(SmolLmError::Tensor {
                name: "token_embd.weight".into(),
                problem: format!("{:?}, expected Q8_0", embedding_info.kind),
            });
        }
        if file.tensors.contains_key("output.weight") {
            return Err(SmolLmError::Tensor {
                name: "output.weight".into(),
                problem: "an untied output projection is not supported".into(),
            });
        }
        let output = (!runs_on_host(device)).then(|| {
            let values = transposed(&dequantize(TensorType::Q8_0, embedding), vocab, d_model);
            Tensor::from_data(TensorData::new(values, [d_model, vocab]), device)
        });
        let embedding =
            QMatrix::from_ggml(BlockFormat::Q8_0, vocab, d_model, embedding).map_err(|e| {
                SmolLmError::Tensor {
                    name: "token_embd.weight".into(),
                    problem: e.to_string(),
                }
            })?;
        let vector = |name: &str| -> Result<Tensor<1>, SmolLmError> {
            let (info, data) = file.tensor_shaped(name, &[d_model])?;
            Ok(Tensor::from_data(
                TensorData::new(dequantize(info.kind, data), [d_model]),
                device,
            ))
        };
        let matrix =
            |names: &[(&str, usize)], d_in: usize| Projection::load(file, names, d_in, device);
        let blocks = (0..config.layers)
            .map(|i| {
                let name = |part: &str| format!("blk.{i}.{part}.weight");
                Ok(Block {
                    attn_norm: vector(&name("attn_norm"))?,
                    qkv: matrix(
                        &[
                            (&name("attn_q"), d_model),
                            (&name("attn_k"), kv_width),
                            (&name("attn_v"), kv_width),
                        ],
                        d_model,
                    )?,
                    out: matrix(&[(&name("attn_output"), d_model)], d_model)?,
                    ffn_norm: vector(&name("ffn_norm"))?,
                    gate_up: matrix(
                        &[(&name("ffn_gate"), d_ff), (&name("ffn_up"), d_ff)],
                        d_model,
                    )?,
                    down: matrix(&[(&name("ffn_down"), d_model)], d_ff)?,
                })
            })
            .collect::<Result<Vec<_>, SmolLmError>>()?;
        Ok(Self {
            config,
            embedding,
            output,
            final_norm: vector("output_norm.weight")?,
            blocks,
            rope: rope_tables(&config, device),
            device: device.clone(),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Appends each input's tokens to its sequence and returns, per input, the logits of the
    /// token after its last one (`[inputs.len()][vocab]`).
    pub fn forward(&self, inputs: &mut [StepInput<'_>]) -> Result<Vec<Vec<f32>>, SmolLmError> {
        // The step runs on one of rayon's threads, so that each of its ~150 parallel products
        // starts on the thread at hand and the others join in; called from outside the pool,
        // every product would be handed over and waited for, two thread switches each (a
        // fifth of a decoding step's time on two cores).
        rayon::scope(|_| self.step(inputs))
    }

    fn step(&self, inputs: &mut [StepInput<'_>]) -> Result<Vec<Vec<f32>>, SmolLmError> {
        let c = &self.config;
        let (head_dim, kv_width) = (c.head_dim(), c.kv_heads * c.head_dim());
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for input in inputs.iter() {
            let end = input.cache.len + input.tokens.len();
            if end > c.context || input.tokens.is_empty() {
                return Err(SmolLmError::ContextFull {
                    needed: end,
                    context: c.context,
                });
            }
            positions.extend((input.cache.len..end).map(|p| p as i64));
            ids.extend_from_slice(input.tokens);
        }
        let total = ids.len();
        let mut x = self.embed(&ids)?;
        let positions =
            Tensor::<1, Int>::from_data(TensorData::new(positions, [total]), &self.device);
        let cos = self.rope.0.clone().select(0, positions.clone());
        let sin = self.rope.1.clone().select(0, positions);
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = rms_norm(x.clone(), &block.attn_norm, c.eps);
            let qkv = block.qkv.forward(h)?;
            let q = rope(
                qkv.clone().narrow(1, 0, c.d_model),
                &cos,
                &sin,
                c.heads,
                head_dim,
            );
            let k = rope(
                qkv.clone().narrow(1, c.d_model, kv_width),
                &cos,
                &sin,
                c.kv_heads,
                head_dim,
            );
            let v = qkv.narrow(1, c.d_model + kv_width, kv_width);
            let mut contexts = Vec::with_capacity(inputs.len());
            let mut start = 0;
            for input in inputs.iter_mut() {
                let n = input.tokens.len();
                let rows = |t: &Tensor<2>| t.clone().narrow(0, start, n);
                contexts.push(self.attend(layer, rows(&q), rows(&k), rows(&v), input.cache)?);
                start += n;
            }
            let attended = block.out.forward(Tensor::cat(contexts, 0))?;
            x = x + attended;
            let h = rms_norm(x.clone(), &block.ffn_norm, c.eps);
            let gate_up = block.gate_up.forward(h)?;
            let gate = activation::silu(gate_up.clone().narrow(1, 0, c.d_ff));
            let up = gate_up.narrow(1, c.d_ff, c.d_ff);
            x = x + block.down.forward(gate * up)?;
        }
        for input in inputs.iter_mut() {
            input.cache.len += input.tokens.len();
        }
        // Only each sequence's last position is projected onto the vocabulary.
        let mut last = Vec::with_capacity(inputs.len());
        let mut end = 0;
        for input in inputs.iter() {
            end += input.tokens.len();
            last.push((end - 1) as i64);
        }
        let count = last.len();
        let last = Tensor::<1, Int>::from_data(TensorData::new(last, [count]), &self.device);
        let hidden = rms_norm(x.select(0, last), &self.final_norm, c.eps);
        let logits = match &self.output {
            Some(output) => host_values(hidden.matmul(output.clone()))?,
            None => self.embedding.matmul(&host_values(hidden)?),
        };
        Ok(logits.chunks_exact(c.vocab).map(<[f32]>::to_vec).collect())
    }

    /// Embedding rows of `ids`, `[ids.len(), d_model]`.
    fn embed(&self, ids: &[u32]) -> Result<Tensor<2>, SmolLmError> {
        let c = &self.config;
        let mut rows = Vec::with_capacity(ids.len() * c.d_model);
        for &id in ids {
            let id = id as usize;
            if id >= c.vocab {
                return Err(SmolLmError::Tokenizer(format!(
                    "token id {id} is not in the vocabulary"
                )));
            }
            self.embedding.dequantize_row(id, &mut rows);
        }
        Ok(Tensor::from_data(
            TensorData::new(rows, [ids.len(), c.d_model]),
            &self.device,
        ))
    }

    /// Causal grouped-query attention of one sequence's new positions over its cache (which
    /// it extends): `q` `[n, heads·head_dim]`, `k`/`v` `[n, kv_heads·head_dim]`.
    fn attend(
        &self,
        layer: usize,
        q: Tensor<2>,
        k: Tensor<2>,
        v: Tensor<2>,
        cache: &mut KvCache,
    ) -> Result<Tensor<2>, SmolLmError> {
        let c = &self.config;
        let (n, head_dim, group) = (q.dims()[0], c.head_dim(), c.heads / c.kv_heads);
        let split = |t: Tensor<2>| t.reshape([n, c.kv_heads, head_dim]).swap_dims(0, 1);
        let (k, v) = (split(k), split(v));
        let (keys, values) = match cache.layers.get(layer) {
            Some((past_k, past_v)) => (
                Tensor::cat(vec![past_k.clone(), k], 1),
                Tensor::cat(vec![past_v.clone(), v], 1),
            ),
            None => (k, v),
        };
        if layer < cache.layers.len() {
            cache.layers[layer] = (keys.clone(), values.clone());
        } else {
            cache.layers.push((keys.clone(), values.clone()));
        }
        let total = keys.dims()[1];
        // Query head h uses key/value head h / group: lay queries out as
        // `[kv_heads, group·n, head_dim]` (row g·n + t is head kv·group + g at position t).
        let q = q
            .reshape([n, c.kv_heads, group, head_dim])
            .permute([1, 2, 0, 3])
            .reshape([c.kv_heads, group * n, head_dim]);
        let mut scores = q.matmul(keys.swap_dims(1, 2)) * (head_dim as f32).powf(-0.5);
        if n > 1 {
            scores = scores + causal_mask(n, total, group, &self.device).unsqueeze::<3>();
        }
        let weights = softmax_last_dim(scores)?;
        Ok(weights
            .matmul(values)
            .reshape([c.kv_heads, group, n, head_dim])
            .permute([2, 0, 1, 3])
            .reshape([n, c.d_model]))
    }
}

/// `−∞` where query row `g·n + t` (position `total − n + t`) would see a later key.
fn causal_mask(n: usize, total: usize, group: usize, device: &Device) -> Tensor<2> {
    let past = total - n;
    let mut mask = vec![0.0f32; group * n * total];
    for (row, values) in mask.chunks_exact_mut(total).enumerate() {
        let visible = past + row % n + 1;
        values[visible..].fill(f32::NEG_INFINITY);
    }
    Tensor::from_data(TensorData::new(mask, [group * n, total]), device)
}

/// `x / rms(x) · weight` over the last dimension.
fn rms_norm(x: Tensor<2>, weight: &Tensor<1>, eps: f32) -> Tensor<2> {
    let scale = (x.clone().square().mean_dim(1) + eps).sqrt().recip();
    x * scale * weight.clone().unsqueeze::<2>()
}

/// Rotates each head's consecutive pairs `(x₂ᵢ, x₂ᵢ₊₁)` by its position's angles (llama.cpp's
/// "normal" RoPE: its converter permuted the Q and K rows of the Hugging Face weights so that
/// pairs are adjacent). `x` `[n, heads·head_dim]`; `cos`/`sin` `[n, head_dim / 2]`.
fn rope(
    x: Tensor<2>,
    cos: &Tensor<2>,
    sin: &Tensor<2>,
    heads: usize,
    head_dim: usize,
) -> Tensor<2> {
    let n = x.dims()[0];
    let half = head_dim / 2;
    let x = x.reshape([n, heads, half, 2]);
    let even = x.clone().narrow(3, 0, 1);
    let odd = x.narrow(3, 1, 1);
    let cos = cos.clone().reshape([n, 1, half, 1]);
    let sin = sin.clone().reshape([n, 1, half, 1]);
    let rotated = Tensor::cat(
        vec![
            even.clone() * cos.clone() - odd.clone() * sin.clone(),
            even * sin + odd * cos,
        ],
        3,
    );
    rotated.reshape([n, heads * head_dim])
}

/// `cos` and `sin` of `position · base^(−2i / head_dim)` for every position and pair `i`.
fn rope_tables(config: &Config, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let half = config.head_dim() / 2;
    let mut cos = Vec::with_capacity(config.context * half);
    let mut sin = Vec::with_capacity(config.context * half);
    for position in 0..config.context {
        for i in 0..half {
            let frequency =
                f64::from(config.rope_base).powf(-2.0 * i as f64 / config.head_dim() as f64);
            let angle = position as f64 * frequency;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let shape = [config.context, half];
    (
        Tensor::from_data(TensorData::new(cos, shape), device),
        Tensor::from_data(TensorData::new(sin, shape), device),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn mask_hides_later_keys_for_every_head_of_a_group() {
        let device = Device::flex();
        // 2 new positions after 1 cached one, 2 query heads per key/value head.
        let mask = causal_mask(2, 3, 2, &device)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let inf = f32::NEG_INFINITY;
        assert_eq!(
            mask,
            vec![0.0, 0.0, inf, 0.0, 0.0, 0.0, 0.0, 0.0, inf, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn rope_rotates_adjacent_pairs_by_position() {
        let device = Device::flex();
        let config = Config {
            d_model: 4,
            layers: 1,
            heads: 1,
            kv_heads: 1,
            d_ff: 1,
            vocab: 1,
            context: 3,
            rope_base: 100.0,
            eps: 1e-5,
        };
        let (cos, sin) = rope_tables(&config, &device);
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [1, 4]),
            &device,
        );
        let at = |p: i64| Tensor::<1, Int>::from_data(TensorData::new(vec![p], [1]), &device);
        let y = rope(x, &cos.select(0, at(2)), &sin.select(0, at(2)), 1, 4)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        // Pair 0 turns by 2 rad, pair 1 by 2·100^(−1/2) = 0.2 rad.
        let expected = [2.0f32.cos(), 2.0f32.sin(), -(0.2f32.sin()), 0.2f32.cos()];
        for (got, want) in y.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{y:?} vs {expected:?}");
        }
    }

    #[test]
    fn rms_norm_scales_rows_to_unit_rms() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &device);
        let w = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &device);
        let y = rms_norm(x, &w, 0.0)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let rms = (12.5f32).sqrt();
        assert!(
            (y[0] - 3.0 / rms).abs() < 1e-6 && (y[1] - 8.0 / rms).abs() < 1e-6,
            "{y:?}"
        );
    }
}
