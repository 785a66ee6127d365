//! Embedding requests and answers.

use crate::Usage;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Inputs to embed, in order.
#[derive(Debug, Clone)]
pub struct EmbeddingsRequest {
    /// The model name at the backend.
    pub model: String,
    /// What to embed.
    pub input: EmbeddingInput,
    /// Requested output size, for models that can shorten their vectors.
    pub dimensions: Option<u32>,
    /// Other fields (`user`, vendor extensions), forwarded untouched.
    pub extra: Map<String, Value>,
}

/// The inputs of an embeddings request.
#[derive(Debug, Clone)]
pub enum EmbeddingInput {
    /// Strings.
    Text(Vec<String>),
    /// Pre-tokenized inputs.
    Tokens(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// Number of inputs.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(items) => items.len(),
            Self::Tokens(items) => items.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Embeddings, one per input, in input order (`object: "list"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct EmbeddingsResponse {
    /// Always `list`.
    #[serde(default = "list_object")]
    pub object: String,
    /// One per input.
    pub data: Vec<Embedding>,
    /// The model that answered.
    pub model: String,
    /// Token accounting (`completion_tokens` stays 0).
    #[serde(default)]
    pub usage: Usage,
}

fn list_object() -> String {
    "list".to_owned()
}

/// One embedding (`object: "embedding"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Embedding {
    /// Always `embedding`.
    #[serde(default = "embedding_object")]
    pub object: String,
    /// Position of its input.
    pub index: u32,
    /// The vector.
    pub embedding: EmbeddingVector,
}

fn embedding_object() -> String {
    "embedding".to_owned()
}

/// A vector: floats, or (when the client asked for `encoding_format: "base64"`) the
/// little-endian f32 bytes in base64, as the upstream produced them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// Plain floats.
    Float(Vec<f32>),
    /// Base64 of little-endian f32s.
    Base64(String),
}
