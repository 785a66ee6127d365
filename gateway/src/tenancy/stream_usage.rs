//! Token counts of a virtual key's streamed chat. A stream reports its usage only in a last chunk
//! the client must ask for (`stream_options.include_usage`); without it a key's token window
//! would keep the estimate and its spend would miss the tokens. So for virtual keys the gateway
//! asks the upstream for that chunk, reads the counts from it, and passes it on only when the
//! client asked for it too.

use futures::StreamExt;
use omnigate_backend::{Answer, ChatStream, Usage};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex, PoisonError};

/// The usage a stream reported, shared between the stream and the request's settlement.
#[derive(Debug, Default)]
pub struct StreamUsage(Mutex<Option<Usage>>);

impl StreamUsage {
    /// What the stream reported, if it has.
    pub fn get(&self) -> Option<Usage> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, usage: Usage) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(usage);
    }
}

/// Sets `stream_options.include_usage` in the upstream request's parameters (keeping any other
/// stream option); returns whether the client had asked for it itself.
pub fn ask_for_usage(params: &mut Map<String, Value>) -> bool {
    let options = params
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(options) = options else {
        // Not an object: the upstream will refuse it as the client wrote it.
        return true;
    };
    let asked = options.get("include_usage").and_then(Value::as_bool) == Some(true);
    options.insert("include_usage".to_owned(), Value::Bool(true));
    asked
}

/// `stream`, with the usage it reports copied into `usage`, and the usage-only chunk dropped
/// unless `client_asked`.
pub fn tap(stream: ChatStream, usage: Arc<StreamUsage>, client_asked: bool) -> ChatStream {
    Box::pin(stream.filter_map(move |item| {
        let keep = match &item {
            Ok(answer) => match reported(answer) {
                Some((counts, usage_only)) => {
                    usage.set(counts);
                    client_asked || !usage_only
                }
                None => true,
            },
            Err(_) => true,
        };
        futures::future::ready(keep.then_some(item))
    }))
}

/// The usage a chunk carries, and whether that is all it carries (no choices). A relayed chunk
/// is decoded only when it has a usage object: once a stream.
fn reported(answer: &Answer<omnigate_backend::ChatChunk>) -> Option<(Usage, bool)> {
    match answer {
        Answer::Built(chunk) => chunk
            .usage
            .clone()
            .map(|usage| (usage, chunk.choices.is_empty())),
        Answer::Relayed(relayed) if relayed.has_usage_object() => {
            let chunk: omnigate_backend::ChatChunk = serde_json::from_slice(relayed.text()).ok()?;
            chunk.usage.map(|usage| (usage, chunk.choices.is_empty()))
        }
        Answer::Relayed(_) => None,
    }
}
