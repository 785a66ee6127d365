//! `POST /v1/embeddings` requests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::content::{ImageUrl, MediaUrl};

/// An embeddings request, as OpenAI defines it; other fields are forwarded untouched.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingsRequest {
    /// The model to use.
    #[schema(example = "text-embedding-3-small")]
    pub model: String,
    /// A string, a list of strings, a token list, or a list of token lists; for models that
    /// embed pictures or sounds (a tensor model whose config makes its input from media), a
    /// list of `image_url` (or `audio_url`, `video_url`) items.
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
    /// Pictures, sounds or videos, for models that embed media (CLIP/SigLIP-style encoders
    /// behind a tensor backend): each is normalized into the tensor the model's config declares,
    /// and the model's output is the vector.
    Media(Vec<EmbeddingsMediaItem>),
}

/// One picture, sound or video to embed, as in a chat message's content parts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EmbeddingsMediaItem {
    /// A picture.
    ImageUrl {
        /// The picture's URL or data URL.
        image_url: ImageUrl,
    },
    /// A sound.
    AudioUrl {
        /// The sound's URL or data URL.
        audio_url: MediaUrl,
    },
    /// A video.
    VideoUrl {
        /// The video's URL or data URL.
        video_url: MediaUrl,
    },
}
