//! Wrapping a finished answer in the OpenAI chat shapes: one `chat.completion`, or the chunks
//! of a stream (role, content, finish, and usage when asked).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use omnigate_backend::{
    AssistantMessage, ChatChoice, ChatChunk, ChatResponse, ChunkChoice, Delta, Usage,
};
use serde_json::Map;

/// A completion id unique within this process and unlikely to repeat across restarts.
pub(crate) fn completion_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{:x}{n:06x}", unix_time())
}

pub(crate) fn unix_time() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Perception models consume no prompt tokens and generate none; usage is reported as zero so
/// clients that sum it keep working.
fn zero_usage() -> Usage {
    Usage {
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
        extra: Map::new(),
    }
}

/// The whole answer as one completion.
pub(crate) fn response(model: &str, content: String) -> ChatResponse {
    ChatResponse {
        id: completion_id(),
        object: "chat.completion".into(),
        created: unix_time(),
        model: model.to_owned(),
        choices: vec![ChatChoice {
            index: 0,
            message: AssistantMessage::text(content),
            finish_reason: Some("stop".into()),
            logprobs: None,
            extra: Map::new(),
        }],
        usage: Some(zero_usage()),
        extra: Map::new(),
    }
}

/// The answer as the chunks of a stream.
pub(crate) fn chunks(model: &str, content: String, include_usage: bool) -> Vec<ChatChunk> {
    let id = completion_id();
    let created = unix_time();
    let chunk = |delta: Delta, finish: Option<&str>, usage: Option<Usage>| ChatChunk {
        id: id.clone(),
        object: "chat.completion.chunk".into(),
        created,
        model: model.to_owned(),
        choices: if usage.is_some() {
            Vec::new()
        } else {
            vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
                extra: Map::new(),
            }]
        },
        usage,
        extra: Map::new(),
    };
    let mut out = vec![
        chunk(
            Delta {
                role: Some("assistant".into()),
                ..Delta::default()
            },
            None,
            None,
        ),
        chunk(
            Delta {
                content: Some(content),
                ..Delta::default()
            },
            None,
            None,
        ),
        chunk(Delta::default(), Some("stop"), None),
    ];
    if include_usage {
        out.push(chunk(Delta::default(), None, Some(zero_usage())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_role_content_finish_then_usage() {
        let chunks = chunks("m", "hello".into(), true);
        assert_eq!(chunks.len(), 4);
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("hello"));
        assert_eq!(chunks[2].choices[0].finish_reason.as_deref(), Some("stop"));
        assert!(chunks[3].choices.is_empty() && chunks[3].usage.is_some());
        assert!(chunks.iter().all(|c| c.id == chunks[0].id));
    }

    #[test]
    fn ids_differ() {
        assert_ne!(completion_id(), completion_id());
    }
}
