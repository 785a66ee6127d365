//! A deterministic in-process backend for tests of everything above the trait. It answers chat
//! by echoing the last user message (and describing its media), embeds text with a hash, and can
//! be told to be slow or unhealthy. Compiled only with the `test-backend` feature.

use crate::{
    Answer, AssistantMessage, Backend, BackendError, Capabilities, ChatChoice, ChatChunk,
    ChatRequest, ChatResponse, ChatStream, ChunkChoice, ContentPart, Delta, Embedding,
    EmbeddingInput, EmbeddingVector, EmbeddingsRequest, EmbeddingsResponse, ImageData,
    MessageContent, Modality, Role, Task, Usage,
};
use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Map;
use std::time::Duration;

/// Dimension of the echo backend's embeddings.
pub const ECHO_EMBEDDING_DIM: usize = 8;

/// The echo backend.
#[derive(Debug, Clone, Default)]
pub struct EchoBackend {
    delay: Option<Duration>,
    unhealthy: bool,
}

impl EchoBackend {
    /// A healthy, instant echo backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wait this long before every answer (and between streamed chunks).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Report unhealthy and refuse every request as unavailable.
    pub fn unhealthy(mut self) -> Self {
        self.unhealthy = true;
        self
    }

    async fn pause(&self) {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
    }

    fn check_up(&self) -> Result<(), BackendError> {
        if self.unhealthy {
            Err(BackendError::Unavailable(
                "echo backend set unhealthy".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// The echo backend's answer to a request: `echo: ` + the last user message's text, with a
/// bracketed note per media part.
pub fn echo_text(request: &ChatRequest) -> String {
    let Some(message) = request.messages.iter().rev().find(|m| m.role == Role::User) else {
        return "echo:".to_owned();
    };
    let mut pieces = Vec::new();
    match &message.content {
        None => {}
        Some(MessageContent::Text(text)) => pieces.push(text.clone()),
        Some(MessageContent::Parts(parts)) => {
            for part in parts {
                pieces.push(match part {
                    ContentPart::Text(text) => text.clone(),
                    ContentPart::Image(image) => describe_image(&image.image),
                    ContentPart::Audio(audio) => format!(
                        "[audio {:.2}s {}Hz]",
                        audio.duration_secs(),
                        audio.sample_rate
                    ),
                    ContentPart::Video(video) => format!(
                        "[video {} frames{}]",
                        video.frames.len(),
                        if video.audio.is_some() { " +audio" } else { "" }
                    ),
                });
            }
        }
    }
    format!("echo: {}", pieces.join(" "))
}

fn describe_image(image: &ImageData) -> String {
    match image {
        ImageData::Encoded(e) => format!("[image {}x{} {}]", e.width, e.height, e.format.mime()),
        ImageData::Tensor(t) => format!("[tensor {}x{}x{}]", t.channels, t.height, t.width),
    }
}

fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn prompt_words(request: &ChatRequest) -> u64 {
    request
        .messages
        .iter()
        .map(|m| count_words(&m.joined_text()))
        .sum()
}

fn usage(prompt: u64, completion: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        extra: Map::new(),
    }
}

fn chunk(model: &str, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-echo".to_owned(),
        object: "chat.completion.chunk".to_owned(),
        created: 0,
        model: model.to_owned(),
        choices,
        usage,
        extra: Map::new(),
    }
}

#[async_trait]
impl Backend for EchoBackend {
    fn name(&self) -> &str {
        "echo"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tasks: [Task::Chat, Task::Embeddings].into_iter().collect(),
            modalities: [
                Modality::Text,
                Modality::Image,
                Modality::Audio,
                Modality::Video,
            ]
            .into_iter()
            .collect(),
        }
    }

    async fn health(&self) -> Result<(), BackendError> {
        self.check_up()
    }

    async fn chat(&self, request: ChatRequest) -> Result<Answer<ChatResponse>, BackendError> {
        self.check_up()?;
        self.pause().await;
        let text = echo_text(&request);
        let completion = count_words(&text);
        Ok(ChatResponse {
            id: "chatcmpl-echo".to_owned(),
            object: "chat.completion".to_owned(),
            created: 0,
            model: request.model.clone(),
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage::text(text),
                finish_reason: Some("stop".to_owned()),
                logprobs: None,
                extra: Map::new(),
            }],
            usage: Some(usage(prompt_words(&request), completion)),
            extra: Map::new(),
        }
        .into())
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, BackendError> {
        self.check_up()?;
        let text = echo_text(&request);
        let model = request.model.clone();
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        let mut chunks = Vec::with_capacity(words.len() + 2);
        for (i, word) in words.iter().enumerate() {
            let delta = Delta {
                role: (i == 0).then(|| "assistant".to_owned()),
                content: Some(word.clone()),
                extra: Map::new(),
            };
            let choice = ChunkChoice {
                index: 0,
                delta,
                finish_reason: None,
                extra: Map::new(),
            };
            chunks.push(chunk(&model, vec![choice], None));
        }
        let last = ChunkChoice {
            index: 0,
            delta: Delta::default(),
            finish_reason: Some("stop".to_owned()),
            extra: Map::new(),
        };
        chunks.push(chunk(&model, vec![last], None));
        if request.include_usage() {
            let usage = usage(prompt_words(&request), count_words(&text));
            chunks.push(chunk(&model, Vec::new(), Some(usage)));
        }
        let delay = self.delay;
        let stream = futures::stream::iter(chunks).then(move |c| async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            Ok(Answer::Built(c))
        });
        Ok(stream.boxed())
    }

    async fn embeddings(
        &self,
        request: EmbeddingsRequest,
    ) -> Result<Answer<EmbeddingsResponse>, BackendError> {
        self.check_up()?;
        self.pause().await;
        let texts: Vec<String> = match &request.input {
            EmbeddingInput::Text(items) => items.clone(),
            EmbeddingInput::Tokens(items) => items.iter().map(|t| format!("{t:?}")).collect(),
            // One "text" per row, naming the tensor: enough to tell the rows apart.
            EmbeddingInput::Media(tensor) => (0..request.input.len())
                .map(|row| format!("{} row {row}", tensor.name))
                .collect(),
        };
        let prompt: u64 = texts.iter().map(|t| count_words(t)).sum();
        let data = texts
            .iter()
            .enumerate()
            .map(|(index, text)| Embedding {
                object: "embedding".to_owned(),
                index: index as u32,
                embedding: EmbeddingVector::Float(hash_embedding(text)),
            })
            .collect();
        Ok(EmbeddingsResponse {
            object: "list".to_owned(),
            data,
            model: request.model,
            usage: usage(prompt, 0),
        }
        .into())
    }
}

/// A unit vector derived from the text's bytes (FNV-1a seeded per dimension).
fn hash_embedding(text: &str) -> Vec<f32> {
    let mut vector: Vec<f32> = (0..ECHO_EMBEDDING_DIM as u64)
        .map(|dim| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ dim;
            for byte in text.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            (hash % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = vector
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    vector.iter_mut().for_each(|v| *v /= norm);
    vector
}

#[cfg(all(test, feature = "conformance"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn echo_backend_passes_conformance() {
        crate::conformance::check(&EchoBackend::new(), "echo-model")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn unhealthy_echo_backend_fails_conformance() {
        assert!(
            crate::conformance::check(&EchoBackend::new().unhealthy(), "m")
                .await
                .is_err()
        );
    }
}
