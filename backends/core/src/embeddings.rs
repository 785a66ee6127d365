//! Embedding requests and answers.

use crate::{Tensor, Usage};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
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
    /// Pictures, sounds or videos the gateway has made into the tensor the model's contract
    /// declares (for CLIP/SigLIP-style encoders served by tensor backends): one tensor, named
    /// for the model's input, whose first dimension holds one row per input.
    Media(Tensor),
}

impl EmbeddingInput {
    /// Number of inputs.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(items) => items.len(),
            Self::Tokens(items) => items.len(),
            Self::Media(tensor) => tensor.shape.first().map_or(0, |rows| *rows as usize),
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
///
/// A vector read from JSON is kept as the JSON text it came in ([`EmbeddingVector::Json`]) and
/// written back verbatim: relaying an upstream's answer then costs no float parsing or printing,
/// which dominate an embeddings request otherwise.
#[derive(Debug, Clone)]
pub enum EmbeddingVector {
    /// Plain floats.
    Float(Vec<f32>),
    /// Base64 of little-endian f32s.
    Base64(String),
    /// A JSON array of numbers, kept as received.
    Json(Box<RawValue>),
}

/// On the wire a vector is an array of numbers or a base64 string; the `Json` variant is only
/// how an array is held, so the schema is written by hand.
#[cfg(feature = "schema")]
impl utoipa::PartialSchema for EmbeddingVector {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let floats = ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Float))),
            )
            .description(Some("Plain floats."));
        let base64 = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("Base64 of little-endian f32s."));
        OneOfBuilder::new()
            .item(floats)
            .item(base64)
            .description(Some(
                "A vector: floats, or base64 when `encoding_format` is `base64`.",
            ))
            .into()
    }
}

#[cfg(feature = "schema")]
impl utoipa::ToSchema for EmbeddingVector {}

impl EmbeddingVector {
    /// The values as floats (parsing a JSON array if needed); `None` for base64 or bad JSON.
    pub fn floats(&self) -> Option<Vec<f32>> {
        match self {
            Self::Float(values) => Some(values.clone()),
            Self::Json(raw) => serde_json::from_str(raw.get()).ok(),
            Self::Base64(_) => None,
        }
    }
}

impl PartialEq for EmbeddingVector {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Base64(a), Self::Base64(b)) => a == b,
            (Self::Base64(_), _) | (_, Self::Base64(_)) => false,
            _ => self.floats() == other.floats(),
        }
    }
}

impl Serialize for EmbeddingVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Float(values) => values.serialize(serializer),
            Self::Base64(text) => text.serialize(serializer),
            Self::Json(raw) => raw.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for EmbeddingVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        match raw.get().trim_start().as_bytes().first() {
            Some(b'"') => serde_json::from_str(raw.get())
                .map(Self::Base64)
                .map_err(serde::de::Error::custom),
            Some(b'[') => Ok(Self::Json(raw)),
            _ => Err(serde::de::Error::custom(
                "an embedding must be an array of numbers or a base64 string",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_vectors_round_trip_verbatim() {
        let text = r#"{"object":"embedding","index":0,"embedding":[0.5,-1e-7,3]}"#;
        let item: Embedding = serde_json::from_str(text).unwrap();
        assert_eq!(item.embedding.floats(), Some(vec![0.5, -1e-7, 3.0]));
        assert_eq!(serde_json::to_string(&item).unwrap(), text);
        let b64: Embedding =
            serde_json::from_str(r#"{"object":"embedding","index":1,"embedding":"AAAA"}"#).unwrap();
        assert_eq!(b64.embedding, EmbeddingVector::Base64("AAAA".into()));
        assert!(serde_json::from_str::<Embedding>(r#"{"index":0,"embedding":7}"#).is_err());
    }
}
