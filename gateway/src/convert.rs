//! API messages (what the client sent) into backend messages (what the backend receives):
//! roles mapped, text kept as sent, each media part checked against the model's modalities and
//! handed to the media pipeline.

use crate::error::ApiError;
use crate::registry::ModelEntry;
use omnigate_backend::{ContentPart, Message, MessageContent, Modality, Role};
use omnigate_openapi::{
    ChatMessage, ChatRole, ContentPart as ApiPart, MessageContent as ApiContent,
};

/// Converts the conversation for `model`.
pub fn chat_messages(
    messages: Vec<ChatMessage>,
    model: &ModelEntry,
) -> Result<Vec<Message>, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "`messages` must contain at least one message.",
            Some("messages"),
        ));
    }
    messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            let content = match message.content {
                None => None,
                Some(ApiContent::Text(text)) => Some(MessageContent::Text(text)),
                Some(ApiContent::Parts(parts)) => Some(MessageContent::Parts(
                    parts
                        .into_iter()
                        .enumerate()
                        .map(|(j, part)| {
                            content_part(part, model, &format!("messages[{i}].content[{j}]"))
                        })
                        .collect::<Result<_, _>>()?,
                )),
            };
            Ok(Message {
                role: role(message.role),
                content,
                extra: message.extra,
            })
        })
        .collect()
}

fn role(role: ChatRole) -> Role {
    match role {
        ChatRole::System => Role::System,
        ChatRole::Developer => Role::Developer,
        ChatRole::User => Role::User,
        ChatRole::Assistant => Role::Assistant,
        ChatRole::Tool => Role::Tool,
        ChatRole::Function => Role::Function,
    }
}

fn content_part(part: ApiPart, model: &ModelEntry, param: &str) -> Result<ContentPart, ApiError> {
    let modality = match &part {
        ApiPart::Text { .. } => Modality::Text,
        ApiPart::ImageUrl { .. } => Modality::Image,
        ApiPart::InputAudio { .. } | ApiPart::AudioUrl { .. } => Modality::Audio,
        ApiPart::VideoUrl { .. } => Modality::Video,
    };
    if !model.modalities.contains(&modality) {
        return Err(ApiError::invalid(
            format!(
                "The model `{}` does not accept {} input (part type `{}`).",
                model.name,
                modality_noun(modality),
                part.type_name()
            ),
            Some(param),
        ));
    }
    match part {
        ApiPart::Text { text } => Ok(ContentPart::Text(text)),
        other => Err(ApiError::Unprocessable {
            message: format!(
                "This gateway build cannot normalize `{}` parts yet.",
                other.type_name()
            ),
            param: Some(param.to_owned()),
        }),
    }
}

fn modality_noun(modality: Modality) -> &'static str {
    match modality {
        Modality::Text => "text",
        Modality::Image => "image",
        Modality::Audio => "audio",
        Modality::Video => "video",
    }
}
