//! `POST /v1/embeddings` requests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// An embeddings request, as OpenAI defines it; other fields are forwarded untouched.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingsRequest {
    /// The model to use.
    #[schema(example = "text-embedding-3-small")]
    pub model: String,
    /// A string, a list of strings, a token list, or a list of token lists.
    pub input: EmbeddingsInput,
    /// `float` (default) or `base64` (little-endian f32s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Output size, for models that can shorten their vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// An end-user id, forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Any other field, forwarded untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The inputs to embed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingsInput {
    /// One string.
    One(String),
    /// Several strings.
    Many(Vec<String>),
    /// One token list.
    Tokens(Vec<u32>),
    /// Several token lists.
    ManyTokens(Vec<Vec<u32>>),
}
