//! Chat through the generate extension (`/v2/models/{m}/generate` and `generate_stream`), for
//! servers that run language models: Triton's TensorRT-LLM and vLLM backends (the `triton`
//! dialect), MLServer (the `infer` dialect). The conversation goes as one prompt: the messages'
//! texts in order, separated by blank lines; the model's own chat template, if it has one, is
//! the server's to apply.

use crate::rest::{RestClient, response_in};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use omnigate_backend::{
    AssistantMessage, BackendError, ChatChoice, ChatChunk, ChatRequest, ChatResponse, ChatStream,
    ChunkChoice, ContentPart, Delta, InferRequest, MessageContent, Signature, Tensor, Usage,
};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which request shape the generate endpoints take (see the config's `generate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Triton's: a flat JSON object whose keys are the model's inputs.
    Triton,
    /// A v2 inference request and response.
    Infer,
}

/// How chat reaches the model.
#[derive(Debug, Clone)]
pub struct Generate {
    /// The request shape.
    pub dialect: Dialect,
    /// The prompt's input (`text_input`).
    pub input: String,
    /// The text's output (`text_output`).
    pub output: String,
}

/// Chat request fields passed on to the model, as its inputs where it has them (Triton's
/// TensorRT-LLM takes `max_tokens` as an input) and as request parameters otherwise (vLLM).
const SAMPLING: [&str; 6] = [
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "stop",
    "frequency_penalty",
];

/// The conversation as one prompt; a part that is not text is refused (the model reads text).
fn prompt(request: &ChatRequest) -> Result<String, BackendError> {
    let mut pieces = Vec::with_capacity(request.messages.len());
    for (i, message) in request.messages.iter().enumerate() {
        match &message.content {
            None => {}
            Some(MessageContent::Text(text)) => pieces.push(text.as_str()),
            Some(MessageContent::Parts(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    let ContentPart::Text(text) = part else {
                        return Err(BackendError::Rejected {
                            status: 400,
                            message: "This model reads text only.".to_owned(),
                            param: Some(format!("messages[{i}].content[{j}]")),
                        });
                    };
                    pieces.push(text);
                }
            }
        }
    }
    Ok(pieces.join("\n\n"))
}

impl Generate {
    /// The body of a generate call.
    fn body(
        &self,
        request: &ChatRequest,
        signature: &Signature,
        stream: bool,
    ) -> Result<Vec<u8>, BackendError> {
        let prompt = prompt(request)?;
        let mut settings: Vec<(&str, Value)> = SAMPLING
            .iter()
            .filter_map(|k| Some((*k, request.params.get(*k)?.clone())))
            .collect();
        if let Some(max) = request.max_tokens() {
            settings.push(("max_tokens", Value::from(max)));
        }
        settings.push(("stream", Value::Bool(stream)));
        let mut parameters = Map::new();
        let body =
            match self.dialect {
                Dialect::Triton => {
                    let mut body = Map::new();
                    body.insert(self.input.clone(), Value::String(prompt));
                    for (key, value) in settings {
                        if signature.inputs.iter().any(|s| s.name == key) {
                            body.insert(key.to_owned(), value);
                        } else {
                            parameters.insert(key.to_owned(), value);
                        }
                    }
                    body.insert("parameters".to_owned(), Value::Object(parameters));
                    Value::Object(body)
                }
                Dialect::Infer => {
                    parameters.extend(settings.into_iter().map(|(k, v)| (k.to_owned(), v)));
                    let text = Tensor::from_strings(self.input.clone(), vec![1], &[prompt])
                        .map_err(|e| BackendError::Rejected {
                            status: 400,
                            message: e,
                            param: Some("messages".into()),
                        })?;
                    let infer = InferRequest {
                        model: request.model.clone(),
                        inputs: vec![text],
                        outputs: vec![self.output.clone()],
                        parameters,
                        id: None,
                    };
                    let body = crate::rest::request_body(&infer, false)?;
                    return Ok(body.bytes);
                }
            };
        serde_json::to_vec(&body).map_err(|e| BackendError::Internal(e.to_string()))
    }

    /// The text of one answer (or one streamed event).
    fn text(&self, body: &[u8]) -> Result<String, BackendError> {
        let bad = |what: String| BackendError::BadResponse(format!("generate answer: {what}"));
        match self.dialect {
            Dialect::Triton => {
                let value: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
                if let Some(error) = value.get("error") {
                    return Err(BackendError::Upstream {
                        status: 500,
                        message: error
                            .as_str()
                            .map_or_else(|| error.to_string(), str::to_owned),
                    });
                }
                match &value[&self.output] {
                    Value::String(text) => Ok(text.clone()),
                    Value::Array(items) => Ok(items.iter().filter_map(Value::as_str).collect()),
                    _ => Err(bad(format!("no `{}` in it", self.output))),
                }
            }
            Dialect::Infer => {
                let answer = response_in(body, None)?;
                let tensor = answer
                    .outputs
                    .iter()
                    .find(|t| t.name == self.output)
                    .ok_or_else(|| bad(format!("no output `{}`", self.output)))?;
                let items = tensor.strings().map_err(bad)?;
                Ok(items.iter().map(|s| String::from_utf8_lossy(s)).collect())
            }
        }
    }

    /// One whole chat answer.
    pub(crate) async fn chat(
        &self,
        rest: &RestClient,
        signature: &Signature,
        request: ChatRequest,
    ) -> Result<ChatResponse, BackendError> {
        let body = self.body(&request, signature, false)?;
        let call = rest.http().post(rest.model_route("generate"));
        let (_, answer) = rest.call(json_body(call, body)).await?;
        let text = self.text(&answer)?;
        Ok(ChatResponse {
            id: completion_id(),
            object: "chat.completion".to_owned(),
            created: now(),
            model: request.model,
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage::text(text),
                finish_reason: Some("stop".to_owned()),
                logprobs: None,
                extra: Map::new(),
            }],
            usage: None,
            extra: Map::new(),
        })
    }

    /// A streamed chat answer: one chunk per server event that carries text, then the finish,
    /// then (when asked) usage. The server does not count tokens: `completion_tokens` counts
    /// its events (one token each on Triton's TensorRT-LLM and vLLM backends) and
    /// `prompt_tokens` is 0.
    pub(crate) async fn chat_stream(
        &self,
        rest: &RestClient,
        signature: &Signature,
        request: ChatRequest,
        timeout: Duration,
    ) -> Result<ChatStream, BackendError> {
        let body = self.body(&request, signature, true)?;
        let call = rest.http().post(rest.model_route("generate_stream"));
        let response = tokio::time::timeout(timeout, rest.send(json_body(call, body)))
            .await
            .map_err(|_| BackendError::Timeout(timeout))??;
        let state = StreamState {
            generate: self.clone(),
            body: response.bytes_stream().boxed(),
            buffer: BytesMut::new(),
            chunk: ChunkMaker {
                id: completion_id(),
                created: now(),
                model: request.model.clone(),
            },
            events: 0,
            include_usage: request.include_usage(),
            stage: Stage::Streaming,
            timeout,
        };
        Ok(futures::stream::unfold(state, next_chunk).boxed())
    }
}

fn json_body(call: reqwest::RequestBuilder, body: Vec<u8>) -> reqwest::RequestBuilder {
    call.header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
}

fn completion_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "chatcmpl-oip-{}-{}",
        now(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct ChunkMaker {
    id: String,
    created: u64,
    model: String,
}

impl ChunkMaker {
    fn chunk(&self, delta: Delta, finish: Option<&str>, usage: Option<Usage>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices: match usage {
                Some(_) => Vec::new(),
                None => vec![ChunkChoice {
                    index: 0,
                    delta,
                    finish_reason: finish.map(str::to_owned),
                    extra: Map::new(),
                }],
            },
            usage,
            extra: Map::new(),
        }
    }
}

enum Stage {
    Streaming,
    Finished,
    Done,
}

struct StreamState {
    generate: Generate,
    body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    buffer: BytesMut,
    chunk: ChunkMaker,
    events: u64,
    include_usage: bool,
    stage: Stage,
    timeout: Duration,
}

type Item = Result<omnigate_backend::Answer<ChatChunk>, BackendError>;

async fn next_chunk(mut state: StreamState) -> Option<(Item, StreamState)> {
    loop {
        match state.stage {
            Stage::Done => return None,
            Stage::Finished => {
                state.stage = Stage::Done;
                if !state.include_usage {
                    return None;
                }
                let usage = Usage {
                    prompt_tokens: 0,
                    completion_tokens: state.events,
                    total_tokens: state.events,
                    extra: Map::new(),
                };
                let chunk = state.chunk.chunk(Delta::default(), None, Some(usage));
                return Some((Ok(chunk.into()), state));
            }
            Stage::Streaming => {}
        }
        if let Some(event) = take_event(&mut state.buffer) {
            let Some(data) = event_data(&event) else {
                continue;
            };
            if data == b"[DONE]" {
                continue;
            }
            match state.generate.text(&data) {
                Ok(text) if text.is_empty() => continue,
                Ok(text) => {
                    let role = (state.events == 0).then(|| "assistant".to_owned());
                    state.events += 1;
                    let delta = Delta {
                        role,
                        content: Some(text),
                        extra: Map::new(),
                    };
                    let chunk = state.chunk.chunk(delta, None, None);
                    return Some((Ok(chunk.into()), state));
                }
                Err(e) => {
                    state.stage = Stage::Done;
                    return Some((Err(e), state));
                }
            }
        }
        match tokio::time::timeout(state.timeout, state.body.next()).await {
            Err(_) => {
                state.stage = Stage::Done;
                return Some((Err(BackendError::Timeout(state.timeout)), state));
            }
            Ok(Some(Ok(bytes))) => state.buffer.extend_from_slice(&bytes),
            Ok(Some(Err(e))) => {
                state.stage = Stage::Done;
                let err = BackendError::BadResponse(format!("the generate stream broke off: {e}"));
                return Some((Err(err), state));
            }
            Ok(None) => {
                // A last event without its blank line still counts.
                if !state.buffer.is_empty() {
                    state.buffer.extend_from_slice(b"\n\n");
                    continue;
                }
                state.stage = Stage::Finished;
                let chunk = state.chunk.chunk(Delta::default(), Some("stop"), None);
                return Some((Ok(chunk.into()), state));
            }
        }
    }
}

/// Cuts the first whole event (up to a blank line) off `buffer`.
fn take_event(buffer: &mut BytesMut) -> Option<BytesMut> {
    let text: &[u8] = buffer;
    let (end, skip) = text
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, 2))
        .or_else(|| {
            text.windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| (i, 4))
        })?;
    let event = buffer.split_to(end);
    let _ = buffer.split_to(skip);
    Some(event)
}

/// The `data:` lines of an event, joined.
fn event_data(event: &[u8]) -> Option<Vec<u8>> {
    let mut data: Option<Vec<u8>> = None;
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            let data = data.get_or_insert_with(Vec::new);
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(rest);
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnigate_backend::{Datatype, Message, Role, TensorSpec};
    use serde_json::json;

    fn chat() -> ChatRequest {
        ChatRequest {
            model: "llm".into(),
            messages: vec![
                Message::text(Role::System, "Be brief."),
                Message::text(Role::User, "Hi"),
            ],
            params: [
                ("max_tokens".to_owned(), json!(8)),
                ("temperature".to_owned(), json!(0.5)),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn triton_bodies_put_settings_where_the_model_takes_them() {
        let generate = Generate {
            dialect: Dialect::Triton,
            input: "text_input".into(),
            output: "text_output".into(),
        };
        let signature = Signature {
            inputs: vec![TensorSpec {
                name: "max_tokens".into(),
                datatype: Datatype::Int32,
                shape: vec![1],
            }],
            outputs: Vec::new(),
        };
        let body: Value =
            serde_json::from_slice(&generate.body(&chat(), &signature, true).unwrap()).unwrap();
        assert_eq!(body["text_input"], "Be brief.\n\nHi");
        assert_eq!(body["max_tokens"], 8);
        assert_eq!(
            body["parameters"],
            json!({"temperature": 0.5, "stream": true})
        );
        assert_eq!(
            generate
                .text(br#"{"model_name":"llm","text_output":"Hello"}"#)
                .unwrap(),
            "Hello"
        );
        assert!(matches!(
            generate.text(br#"{"error":"boom"}"#),
            Err(BackendError::Upstream { .. })
        ));
    }

    #[test]
    fn events_are_cut_at_blank_lines() {
        let mut buffer = BytesMut::from(&b"data: {\"a\":1}\n\ndata: [DONE]\r\n\r\npartial"[..]);
        let first = take_event(&mut buffer).unwrap();
        assert_eq!(event_data(&first).unwrap(), b"{\"a\":1}");
        let second = take_event(&mut buffer).unwrap();
        assert_eq!(event_data(&second).unwrap(), b"[DONE]");
        assert!(take_event(&mut buffer).is_none());
        assert_eq!(&buffer[..], b"partial");
    }
}
