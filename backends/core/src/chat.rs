//! Chat requests as backends receive them: messages whose media parts are already normalized.

use crate::media::{Audio, ImagePart, Video};
use serde_json::{Map, Value};

/// A chat completion request, ready for a backend.
///
/// Sampling and tool fields stay in `params` exactly as the client sent them (OpenAI-speaking
/// backends forward them verbatim, so nothing is renamed or dropped on the way); in-process
/// backends read the ones they honour through the typed accessors.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// The model name *at the backend* (the deployment's upstream name, not the public one).
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Every other request field except `model`, `messages` and `stream` (`max_tokens`,
    /// `temperature`, `tools`, `response_format`, `stream_options`, vendor extensions...).
    pub params: Map<String, Value>,
}

impl ChatRequest {
    /// Upper bound on generated tokens (`max_completion_tokens`, else the older `max_tokens`).
    pub fn max_tokens(&self) -> Option<u64> {
        self.params
            .get("max_completion_tokens")
            .or_else(|| self.params.get("max_tokens"))
            .and_then(Value::as_u64)
    }

    /// Sampling temperature.
    pub fn temperature(&self) -> Option<f64> {
        self.params.get("temperature").and_then(Value::as_f64)
    }

    /// Streaming only: whether the stream must end with a usage chunk
    /// (`stream_options.include_usage`).
    pub fn include_usage(&self) -> bool {
        self.params
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions from the application.
    System,
    /// Instructions from the application (newer name for system in OpenAI's API).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
    /// A function's result (deprecated OpenAI form).
    Function,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Developer => "developer",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
            Self::Function => "function",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its content; `None` for an assistant message that only calls tools.
    pub content: Option<MessageContent>,
    /// Every other message field, untouched (`name`, `tool_calls`, `tool_call_id`, ...).
    pub extra: Map<String, Value>,
}

impl Message {
    /// A plain-text message.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(MessageContent::Text(text.into())),
            extra: Map::new(),
        }
    }

    /// The message's text parts joined by newlines (media parts are skipped).
    pub fn joined_text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(MessageContent::Text(text)) => text.clone(),
            Some(MessageContent::Parts(parts)) => parts
                .iter()
                .filter_map(|part| match part {
                    ContentPart::Text(text) => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// A message's content: a plain string, or a list of typed parts (kept apart so that a backend
/// speaking OpenAI can send back exactly the shape the client used).
#[derive(Debug, Clone)]
pub enum MessageContent {
    /// A plain string.
    Text(String),
    /// Typed parts in order.
    Parts(Vec<ContentPart>),
}

/// One part of a message.
#[derive(Debug, Clone)]
pub enum ContentPart {
    /// Text.
    Text(String),
    /// A picture, normalized to the model's contract.
    Image(ImagePart),
    /// A sound clip, decoded and resampled to the model's contract.
    Audio(Audio),
    /// A video: sampled frames and, optionally, its audio track.
    Video(Video),
}
