//! Whisper's text decoder, stepped one token at a time with key/value caches.

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::WhisperError;
use crate::attention::{KeyValue, MultiHeadAttention};
use crate::mlp::Mlp;
use crate::weights::WeightLoader;

/// One pre-LN decoder block: self-attention, cross-attention over the audio, MLP.
#[derive(Module, Debug)]
struct DecoderBlock {
    self_attention_norm: LayerNorm,
    self_attention: MultiHeadAttention,
    cross_attention_norm: LayerNorm,
    cross_attention: MultiHeadAttention,
    mlp_norm: LayerNorm,
    mlp: Mlp,
}

impl DecoderBlock {
    fn load(
        weights: &WeightLoader<'_>,
        scope: &str,
        d_model: usize,
        n_heads: usize,
    ) -> Result<Self, WhisperError> {
        let self_scope = format!("{scope}/self_attention");
        let cross_scope = format!("{scope}/attention");
        Ok(Self {
            self_attention_norm: weights
                .layer_norm(&format!("{self_scope}/layer_norm"), d_model)?,
            self_attention: MultiHeadAttention::load_self(weights, &self_scope, d_model, n_heads)?,
            cross_attention_norm: weights
                .layer_norm(&format!("{cross_scope}/layer_norm"), d_model)?,
            cross_attention: MultiHeadAttention::load_cross(
                weights,
                &cross_scope,
                d_model,
                n_heads,
            )?,
            mlp_norm: weights.layer_norm(&format!("{scope}/ffn/layer_norm"), d_model)?,
            mlp: Mlp::load(weights, &format!("{scope}/ffn"), d_model)?,
        })
    }
}

/// Per-window decoding state: the cross-attention keys/values of the audio (computed once)
/// and the growing self-attention cache, one entry per block.
#[derive(Debug)]
pub(crate) struct DecoderState {
    cross: Vec<KeyValue>,
    past: Vec<Option<KeyValue>>,
    position: usize,
}

impl DecoderState {
    /// Keeps only the batch rows listed in `rows` (windows still being decoded).
    pub fn retain_rows(&mut self, rows: &[usize], device: &Device) {
        let index = index_tensor(rows.iter().map(|&row| row as i64), device);
        self.cross = std::mem::take(&mut self.cross)
            .into_iter()
            .map(|kv| kv.select_rows(&index))
            .collect();
        self.past = std::mem::take(&mut self.past)
            .into_iter()
            .map(|kv| kv.map(|kv| kv.select_rows(&index)))
            .collect();
    }

    /// Number of tokens fed so far.
    pub fn position(&self) -> usize {
        self.position
    }
}

/// Token ids → next-token logits, conditioned on encoded audio.
#[derive(Module, Debug)]
pub(crate) struct TextDecoder {
    /// `[vocab, d_model]`; also the output projection (tied weights).
    token_embedding: Embedding,
    /// Learned positions, `[max_positions, d_model]`.
    positions: Tensor<2>,
    blocks: Vec<DecoderBlock>,
    final_norm: LayerNorm,
}

impl TextDecoder {
    /// Loads the `decoder/...` variables.
    pub fn load(weights: &WeightLoader<'_>) -> Result<Self, WhisperError> {
        let [vocab, d_model] = dims2(weights, "decoder/embeddings/weight")?;
        let n_heads = weights.count("decoder/num_heads")?;
        let [n_positions, _] = dims2(weights, "decoder/position_encodings/encodings")?;
        // The output projection must be the embedding itself (an alias in model.bin): this
        // decoder multiplies by the embedding table instead of loading a second copy.
        let projection = weights.shape("decoder/projection/weight")?;
        if projection != [vocab, d_model] {
            return Err(WhisperError::BadVariable {
                name: "decoder/projection/weight".into(),
                problem: format!("shape {projection:?}, expected [{vocab}, {d_model}]"),
            });
        }
        let blocks = (0..weights.layer_count("decoder"))
            .map(|i| DecoderBlock::load(weights, &format!("decoder/layer_{i}"), d_model, n_heads))
            .collect::<Result<Vec<_>, _>>()?;
        if blocks.is_empty() {
            return Err(WhisperError::MissingVariable(
                "decoder/layer_0/ffn/linear_0/weight".into(),
            ));
        }
        Ok(Self {
            token_embedding: weights.embedding("decoder/embeddings/weight", vocab, d_model)?,
            positions: weights.tensor(
                "decoder/position_encodings/encodings",
                [n_positions, d_model],
            )?,
            blocks,
            final_norm: weights.layer_norm("decoder/layer_norm", d_model)?,
        })
    }

    /// Vocabulary size (rows of the embedding table).
    pub fn vocab_size(&self) -> usize {
        self.token_embedding.weight.dims()[0]
    }

    /// The most positions one window can be decoded for.
    pub fn max_positions(&self) -> usize {
        self.positions.dims()[0]
    }

    /// Prepares decoding for a batch of encoded windows `[batch, frames, d_model]`.
    pub fn start(&self, audio: Tensor<3>) -> DecoderState {
        DecoderState {
            cross: self
                .blocks
                .iter()
                .map(|block| block.cross_attention.key_value(audio.clone()))
                .collect(),
            past: self.blocks.iter().map(|_| None).collect(),
            position: 0,
        }
    }

    /// Feeds one token per batch row and returns the next-token logits `[batch, vocab]`.
    /// `position()` must stay below `max_positions()`.
    pub fn step(
        &self,
        tokens: &[u32],
        state: &mut DecoderState,
    ) -> Result<Tensor<2>, WhisperError> {
        let device = self.positions.device();
        let batch = tokens.len();
        let ids = index_tensor(tokens.iter().map(|&t| i64::from(t)), &device).reshape([batch, 1]);
        let position = self.positions.clone().narrow(0, state.position, 1);
        let mut x = self.token_embedding.forward(ids) + position.unsqueeze::<3>();
        for ((block, cross), past) in self.blocks.iter().zip(&state.cross).zip(&mut state.past) {
            let (attended, cache) = block
                .self_attention
                .forward_cached(block.self_attention_norm.forward(x.clone()), past.take());
            *past = Some(cache);
            x = x + attended;
            x = x.clone()
                + block
                    .cross_attention
                    .attend(block.cross_attention_norm.forward(x), cross);
            x = x.clone() + block.mlp.forward(block.mlp_norm.forward(x))?;
        }
        state.position += 1;
        let [_, _, d_model] = x.dims();
        let hidden = self.final_norm.forward(x).reshape([batch, d_model]);
        Ok(hidden.matmul(self.token_embedding.weight.val().transpose()))
    }
}

fn dims2(weights: &WeightLoader<'_>, name: &str) -> Result<[usize; 2], WhisperError> {
    let shape = weights.shape(name)?;
    <[usize; 2]>::try_from(shape).map_err(|_| WhisperError::BadVariable {
        name: name.to_owned(),
        problem: format!("rank {}, expected 2", shape.len()),
    })
}

/// An integer index tensor from host values.
fn index_tensor(values: impl Iterator<Item = i64>, device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = values.collect();
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}
