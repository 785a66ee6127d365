//! The model folder's configuration files: `config.json` (the BERT encoder) and
//! `sentence_bert_config.json` (the sentence-transformers wrapper).

use std::path::Path;

use serde::Deserialize;

use crate::MiniLmError;

/// The BERT hyper-parameters this crate reads from `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn absolute() -> String {
    "absolute".to_owned()
}

/// The part of `sentence_bert_config.json` that matters for inference.
#[derive(Debug, Clone, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

impl BertConfig {
    /// Reads `config.json` and rejects variants of BERT the encoder does not implement,
    /// so a different model fails at load instead of producing wrong vectors.
    pub fn load(path: &Path) -> Result<Self, MiniLmError> {
        let config: Self = read_json(path)?;
        let unsupported = |reason: String| MiniLmError::UnsupportedConfig {
            path: path.to_owned(),
            reason,
        };
        if config.hidden_act != "gelu" {
            return Err(unsupported(format!(
                "hidden_act {:?} (only exact \"gelu\" is implemented)",
                config.hidden_act
            )));
        }
        if config.position_embedding_type != "absolute" {
            return Err(unsupported(format!(
                "position_embedding_type {:?} (only \"absolute\" is implemented)",
                config.position_embedding_type
            )));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(unsupported(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            )));
        }
        if config.type_vocab_size == 0 {
            return Err(unsupported("type_vocab_size is 0".to_owned()));
        }
        Ok(config)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// Reads `max_seq_length` from `sentence_bert_config.json`: the number of tokens
/// (including `[CLS]` and `[SEP]`) sentence-transformers feeds the model. It must fit the
/// position embeddings.
pub(crate) fn load_max_seq_length(path: &Path, bert: &BertConfig) -> Result<usize, MiniLmError> {
    let config: SentenceBertConfig = read_json(path)?;
    if config.max_seq_length < 2 || config.max_seq_length > bert.max_position_embeddings {
        return Err(MiniLmError::UnsupportedConfig {
            path: path.to_owned(),
            reason: format!(
                "max_seq_length {} must be between 2 and max_position_embeddings {}",
                config.max_seq_length, bert.max_position_embeddings
            ),
        });
    }
    Ok(config.max_seq_length)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, MiniLmError> {
    let text = std::fs::read_to_string(path).map_err(|source| MiniLmError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| MiniLmError::ConfigParse {
        path: path.to_owned(),
        source,
    })
}
