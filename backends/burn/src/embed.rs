//! Text embeddings with MiniLM: texts are tokenized and embedded on the model's thread, in
//! batches bounded by their token counts.

use std::path::Path;

use base64::Engine;
use burn::tensor::Device;
use omnigate_backend::{
    BackendError, Embedding, EmbeddingInput, EmbeddingVector, EmbeddingsRequest,
    EmbeddingsResponse, Usage,
};
use omnigate_minilm::MiniLm;
use serde_json::{Map, Value};

use crate::batcher::{BatchModel, Batcher};

/// One embedded text.
pub(crate) struct Embedded {
    vector: Vec<f32>,
    tokens: usize,
    truncated: bool,
}

/// MiniLM on its worker thread.
pub(crate) struct EmbedModel {
    model: MiniLm,
}

impl EmbedModel {
    pub(crate) fn load(dir: &Path, device: &Device) -> Result<Self, BackendError> {
        let model =
            MiniLm::load(dir, device).map_err(|e| BackendError::Unavailable(e.to_string()))?;
        Ok(Self { model })
    }

    /// The width of the model's vectors.
    pub(crate) fn dimensions(&self) -> usize {
        self.model.dimensions()
    }
}

impl BatchModel for EmbedModel {
    type Input = String;
    type Output = Embedded;

    /// Tokens are only known after tokenizing (on this thread); four bytes per token is close
    /// for English and errs high for the rest, which only makes batches smaller.
    fn cost(input: &String) -> usize {
        (input.len() / 4 + 2).min(MAX_TOKENS)
    }

    fn run(&mut self, inputs: Vec<String>) -> Vec<Result<Embedded, BackendError>> {
        // A text that fails to tokenize fails alone; the others still share one forward pass.
        let tokenized: Vec<_> = inputs
            .iter()
            .map(|text| self.model.tokenize(text))
            .collect();
        let batch: Vec<_> = tokenized
            .iter()
            .filter_map(|t| t.as_ref().ok().cloned())
            .collect();
        let mut vectors = match self.model.embed(&batch) {
            Ok(vectors) => vectors.into_iter(),
            Err(e) => {
                let message = format!("embedding: {e}");
                return inputs
                    .iter()
                    .map(|_| Err(BackendError::Internal(message.clone())))
                    .collect();
            }
        };
        tokenized
            .into_iter()
            .map(|t| match t {
                Ok(t) => vectors
                    .next()
                    .map(|vector| Embedded {
                        vector,
                        tokens: t.tokens,
                        truncated: t.truncated,
                    })
                    .ok_or_else(|| {
                        BackendError::Internal("the model returned too few vectors".into())
                    }),
                Err(e) => Err(BackendError::Internal(format!("tokenizing: {e}"))),
            })
            .collect()
    }
}

/// MiniLM's window; longer texts are truncated (and usage says so).
const MAX_TOKENS: usize = 256;

/// Answers an embeddings request: each text is its own batch item, so texts from concurrent
/// requests share forward passes.
pub(crate) async fn embeddings(
    batcher: &Batcher<String, Embedded>,
    dimensions: usize,
    request: EmbeddingsRequest,
) -> Result<EmbeddingsResponse, BackendError> {
    let texts = match request.input {
        EmbeddingInput::Text(texts) => texts,
        EmbeddingInput::Tokens(_) => {
            return Err(crate::rejected(
                "this model takes text input; token arrays belong to another tokenizer",
                "input",
            ));
        }
        EmbeddingInput::Media(_) => {
            return Err(crate::rejected(
                "this model embeds text, not pictures or sounds",
                "input",
            ));
        }
    };
    if let Some(asked) = request.dimensions
        && asked as usize != dimensions
    {
        return Err(crate::rejected(
            &format!(
                "this model's embeddings have {dimensions} dimensions; `dimensions` = {asked} cannot be served"
            ),
            "dimensions",
        ));
    }
    let base64 = request.extra.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let calls = texts.into_iter().map(|text| {
        let cost = EmbedModel::cost(&text);
        batcher.call(text, cost)
    });
    let embedded = futures::future::try_join_all(calls).await?;
    let prompt_tokens: usize = embedded.iter().map(|e| e.tokens).sum();
    let truncated = embedded.iter().filter(|e| e.truncated).count();
    let data = embedded
        .into_iter()
        .enumerate()
        .map(|(index, e)| Embedding {
            object: "embedding".into(),
            index: index as u32,
            embedding: if base64 {
                EmbeddingVector::Base64(encode_base64(&e.vector))
            } else {
                EmbeddingVector::Float(e.vector)
            },
        })
        .collect();
    let mut extra = Map::new();
    if truncated > 0 {
        // Not an OpenAI field: says how many inputs lost their tail to the 256-token window.
        extra.insert("truncated_inputs".into(), Value::from(truncated));
    }
    Ok(EmbeddingsResponse {
        object: "list".into(),
        data,
        model: request.model,
        usage: Usage {
            prompt_tokens: prompt_tokens as u64,
            completion_tokens: 0,
            total_tokens: prompt_tokens as u64,
            extra,
        },
    })
}

/// Little-endian f32s in base64, as OpenAI's `encoding_format: "base64"`.
fn encode_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        let encoded = encode_base64(&[1.0, -2.5]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default();
        assert_eq!(
            bytes,
            [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()
        );
    }

    #[test]
    fn cost_is_bounded_by_the_window() {
        assert_eq!(EmbedModel::cost(&String::new()), 2);
        assert_eq!(EmbedModel::cost(&"x".repeat(100_000)), MAX_TOKENS);
    }
}
