//! The BERT encoder (embeddings + post-LayerNorm transformer layers).
//!
//! Field names follow the Hugging Face `BertModel` state dict (`encoder.layer.3.attention
//! .output.dense`, …) so the safetensors keys map onto them one to one; only the two names
//! Rust cannot spell are remapped at load time (see [`crate::weights`]).

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Int, Tensor};
use omnigate_cpu_ops::{HostReadError, gelu, linear_rows};

use crate::config::BertConfig;

/// `BertModel` without the pooler (sentence-transformers mean-pools the last hidden state).
#[derive(Module, Debug)]
pub(crate) struct BertModel {
    embeddings: Embeddings,
    encoder: Encoder,
}

impl BertModel {
    /// A model of the configured shape; parameters are lazily initialized and are meant
    /// to be replaced by the pretrained weights.
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        Self {
            embeddings: Embeddings::new(config, device),
            encoder: Encoder {
                layer: (0..config.num_hidden_layers)
                    .map(|_| Layer::new(config, device))
                    .collect(),
            },
        }
    }

    /// Last hidden state `[batch, seq, hidden]` for token ids `[batch, seq]`.
    ///
    /// `padding_mask` is `[batch, 1, seq, seq]`, `true` where the key is padding; `None`
    /// when no item of the batch is padded.
    pub fn forward(
        &self,
        ids: Tensor<2, Int>,
        padding_mask: Option<Tensor<4, Bool>>,
    ) -> Result<Tensor<3>, HostReadError> {
        let hidden = self.embeddings.forward(ids);
        self.encoder.layer.iter().try_fold(hidden, |hidden, layer| {
            layer.forward(hidden, padding_mask.clone())
        })
    }
}

#[derive(Module, Debug)]
struct Embeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
}

impl Embeddings {
    fn new(config: &BertConfig, device: &Device) -> Self {
        let hidden = config.hidden_size;
        Self {
            word_embeddings: EmbeddingConfig::new(config.vocab_size, hidden).init(device),
            position_embeddings: EmbeddingConfig::new(config.max_position_embeddings, hidden)
                .init(device),
            token_type_embeddings: EmbeddingConfig::new(config.type_vocab_size, hidden)
                .init(device),
            layer_norm: layer_norm(config, device),
        }
    }

    fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = ids.dims();
        let words = self.word_embeddings.forward(ids);
        // Positions are 0..seq for every item and all tokens are segment 0, so both
        // lookups are row slices broadcast over the batch instead of gathers.
        let positions = self
            .position_embeddings
            .weight
            .val()
            .slice(0..seq)
            .unsqueeze::<3>();
        let segment = self
            .token_type_embeddings
            .weight
            .val()
            .slice(0..1)
            .unsqueeze::<3>();
        self.layer_norm.forward(words + positions + segment)
    }
}

#[derive(Module, Debug)]
struct Encoder {
    layer: Vec<Layer>,
}

#[derive(Module, Debug)]
struct Layer {
    attention: Attention,
    intermediate: Intermediate,
    output: SublayerOutput,
}

impl Layer {
    fn new(config: &BertConfig, device: &Device) -> Self {
        let hidden = config.hidden_size;
        Self {
            attention: Attention {
                self_attention: SelfAttention::new(config, device),
                output: SublayerOutput::new(hidden, hidden, config, device),
            },
            intermediate: Intermediate {
                dense: LinearConfig::new(hidden, config.intermediate_size).init(device),
            },
            output: SublayerOutput::new(config.intermediate_size, hidden, config, device),
        }
    }

    fn forward(
        &self,
        hidden: Tensor<3>,
        padding_mask: Option<Tensor<4, Bool>>,
    ) -> Result<Tensor<3>, HostReadError> {
        let context = self
            .attention
            .self_attention
            .forward(hidden.clone(), padding_mask);
        let attended = self.attention.output.forward(context, hidden);
        let inner = gelu(linear_rows(&self.intermediate.dense, attended.clone()))?;
        Ok(self.output.forward(inner, attended))
    }
}

#[derive(Module, Debug)]
struct Attention {
    self_attention: SelfAttention,
    output: SublayerOutput,
}

#[derive(Module, Debug)]
struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    fn new(config: &BertConfig, device: &Device) -> Self {
        let hidden = config.hidden_size;
        Self {
            query: LinearConfig::new(hidden, hidden).init(device),
            key: LinearConfig::new(hidden, hidden).init(device),
            value: LinearConfig::new(hidden, hidden).init(device),
            heads: config.num_attention_heads,
            head_dim: config.head_dim(),
        }
    }

    /// Multi-head attention context `[batch, seq, hidden]`, before the output projection.
    fn forward(&self, hidden: Tensor<3>, padding_mask: Option<Tensor<4, Bool>>) -> Tensor<3> {
        let [batch, seq, width] = hidden.dims();
        let split_heads = |projected: Tensor<3>| {
            projected
                .reshape([batch, seq, self.heads, self.head_dim])
                .swap_dims(1, 2)
        };
        let query = split_heads(linear_rows(&self.query, hidden.clone()));
        let key = split_heads(linear_rows(&self.key, hidden.clone()));
        let value = split_heads(linear_rows(&self.value, hidden));
        // The fused kernel scales by 1/sqrt(head_dim) and sends masked keys to -inf, so
        // padding gets exactly zero weight (BERT adds a large negative number instead,
        // which underflows to the same zero).
        let context = attention(
            query,
            key,
            value,
            padding_mask,
            None,
            AttentionModuleOptions::default(),
        );
        context.swap_dims(1, 2).reshape([batch, seq, width])
    }
}

#[derive(Module, Debug)]
struct Intermediate {
    dense: Linear,
}

/// `dense` projection, residual add, then LayerNorm: BERT's `BertSelfOutput` and
/// `BertOutput`, which differ only in input width.
#[derive(Module, Debug)]
struct SublayerOutput {
    dense: Linear,
    layer_norm: LayerNorm,
}

impl SublayerOutput {
    fn new(d_input: usize, d_output: usize, config: &BertConfig, device: &Device) -> Self {
        Self {
            dense: LinearConfig::new(d_input, d_output).init(device),
            layer_norm: layer_norm(config, device),
        }
    }

    fn forward(&self, input: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        self.layer_norm
            .forward(linear_rows(&self.dense, input) + residual)
    }
}

fn layer_norm(config: &BertConfig, device: &Device) -> LayerNorm {
    LayerNormConfig::new(config.hidden_size)
        .with_epsilon(config.layer_norm_eps)
        .init(device)
}
