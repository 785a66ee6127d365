//! Message content: a string, or typed parts. Parts are parsed with precise errors: an unknown
//! part type is named in the error, not lost in an "untagged enum" message.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// A message's content.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Typed parts, in order.
    Parts(Vec<ContentPart>),
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = MessageContent;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of content parts")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(text.to_owned()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(text))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(64));
                while let Some(part) = seq.next_element::<ContentPart>()? {
                    parts.push(part);
                }
                Ok(MessageContent::Parts(parts))
            }
        }

        deserializer.deserialize_any(ContentVisitor)
    }
}

/// One typed part of a message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A picture by URL (`https:`, `http:` or `data:`).
    ImageUrl {
        /// Where the picture is.
        image_url: ImageUrl,
    },
    /// A sound clip inline, base64.
    InputAudio {
        /// The clip.
        input_audio: InputAudio,
    },
    /// A sound clip by URL (extension used by vLLM and others).
    AudioUrl {
        /// Where the clip is.
        audio_url: MediaUrl,
    },
    /// A video by URL (extension used by vLLM and others).
    VideoUrl {
        /// Where the video is.
        video_url: MediaUrl,
    },
}

impl ContentPart {
    /// The wire name of the part's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::ImageUrl { .. } => "image_url",
            Self::InputAudio { .. } => "input_audio",
            Self::AudioUrl { .. } => "audio_url",
            Self::VideoUrl { .. } => "video_url",
        }
    }
}

/// A picture reference.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImageUrl {
    /// `https:`/`http:` URL or `data:image/...;base64,...`.
    pub url: String,
    /// `auto`, `low`, `high` or `original`: how much resolution the model gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Inline sound.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InputAudio {
    /// Base64 of the file.
    pub data: String,
    /// `wav`, `mp3`, `flac`, `ogg`, `m4a` or `webm`.
    pub format: String,
}

/// A media reference by URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MediaUrl {
    /// `https:`/`http:` URL or `data:` URL.
    pub url: String,
}
