//! all-MiniLM-L6-v2 sentence embeddings on burn.
//!
//! The sentence-transformers pipeline of the model, step for step: the model's own
//! WordPiece tokenizer truncated to `max_seq_length` tokens, the BERT encoder, mean
//! pooling over the attention mask, L2 normalization.
//!
//! Tokenization and embedding are separate calls so a caller can group texts of similar
//! token counts before running them:
//!
//! ```no_run
//! # fn main() -> Result<(), omnigate_minilm::MiniLmError> {
//! use omnigate_minilm::MiniLm;
//! let model = MiniLm::load("path/to/model".as_ref(), &burn::tensor::Device::flex())?;
//! let batch = ["first text", "second text"]
//!     .iter()
//!     .map(|text| model.tokenize(text))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let vectors = model.embed(&batch)?; // two unit vectors of model.dimensions() floats
//! # Ok(())
//! # }
//! ```

mod batch;
mod bert;
mod config;
mod error;
mod pooling;
mod tokenize;
mod weights;

use std::path::Path;

use burn::tensor::Device;

use crate::batch::{InputLimits, PaddedBatch};
use crate::bert::BertModel;
use crate::config::BertConfig;
use crate::tokenize::SentenceTokenizer;

pub use crate::error::MiniLmError;
pub use crate::tokenize::Tokenized;

/// A loaded all-MiniLM-L6-v2 (or any BERT sentence-transformers model of the same layout).
#[derive(Debug)]
pub struct MiniLm {
    encoder: BertModel,
    tokenizer: SentenceTokenizer,
    limits: InputLimits,
    dimensions: usize,
    device: Device,
}

impl MiniLm {
    /// Loads the model from a sentence-transformers folder holding `config.json`,
    /// `sentence_bert_config.json`, `tokenizer.json` and `model.safetensors`, onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, MiniLmError> {
        let config = BertConfig::load(&dir.join("config.json"))?;
        let max_tokens =
            config::load_max_seq_length(&dir.join("sentence_bert_config.json"), &config)?;
        let tokenizer = SentenceTokenizer::load(&dir.join("tokenizer.json"), max_tokens)?;
        let mut encoder = BertModel::new(&config, device);
        weights::load_weights(&mut encoder, &dir.join("model.safetensors"))?;
        Ok(Self {
            encoder,
            tokenizer,
            limits: InputLimits {
                max_tokens,
                vocab_size: config.vocab_size,
            },
            dimensions: config.hidden_size,
            device: device.clone(),
        })
    }

    /// Length of every embedding vector (384 for all-MiniLM-L6-v2).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Most tokens, `[CLS]` and `[SEP]` included, the model sees of one text (256);
    /// [`tokenize`](Self::tokenize) cuts longer texts to this.
    pub fn max_tokens(&self) -> usize {
        self.limits.max_tokens
    }

    /// Tokenizes one text for [`embed`](Self::embed), truncating it to
    /// [`max_tokens`](Self::max_tokens).
    pub fn tokenize(&self, text: &str) -> Result<Tokenized, MiniLmError> {
        self.tokenizer.tokenize(text)
    }

    /// Embeds a batch in one forward pass: items are padded to the longest and padding is
    /// masked out, so each vector is the same as if its text ran alone. Returns one
    /// L2-normalized vector of [`dimensions`](Self::dimensions) floats per item, in order.
    pub fn embed(&self, batch: &[Tokenized]) -> Result<Vec<Vec<f32>>, MiniLmError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let padded = PaddedBatch::new(batch, &self.limits, &self.device)?;
        let hidden = self
            .encoder
            .forward(padded.ids, padded.padding_mask)
            .map_err(|e| MiniLmError::Backend(e.to_string()))?;
        let vectors = pooling::l2_normalize(pooling::mean_pool(hidden, padded.token_mask));
        let flat: Vec<f32> = vectors
            .try_into_data()
            .map_err(|e| MiniLmError::Backend(e.to_string()))?
            .try_into_vec()
            .map_err(|e| MiniLmError::Backend(format!("{e:?}")))?;
        Ok(flat
            .chunks_exact(self.dimensions)
            .map(<[f32]>::to_vec)
            .collect())
    }
}
