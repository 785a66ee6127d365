//! The embedded chat model behind the OpenAI chat API: request parameters checked and turned
//! into a [`Generation`], and the worker's events turned into one `chat.completion` or a
//! stream of `chat.completion.chunk`s.

use futures::StreamExt;
use omnigate_backend::{
    Answer, BackendError, ChatChunk, ChatRequest, ChatResponse, ChatStream, ChunkChoice, Delta,
    Role, Usage,
};
use omnigate_smollm2::{ChatTokenizer, Message, Sampling, SmolLm};
use serde_json::{Map, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::batcher::BatchLimits;
use crate::generate::{Event, Finish, Generation, Generator};
use crate::{answer, rejected};

/// OpenAI accepts at most this many stop sequences.
const MAX_STOPS: usize = 4;

/// A chat model running on its continuous-batching worker.
pub(crate) struct Chat {
    generator: Generator,
    tokenizer: ChatTokenizer,
    context: usize,
}

impl Chat {
    /// Loads the GGUF file at `path` on the worker thread.
    pub async fn start(
        name: &str,
        limits: BatchLimits,
        path: std::path::PathBuf,
        device: burn::tensor::Device,
    ) -> Result<Self, BackendError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let generator = Generator::start(name, limits, move || {
            let model = SmolLm::load(&path, &device)
                .map_err(|e| BackendError::Unavailable(format!("loading SmolLM2: {e}")))?;
            let _ = tx.send((model.tokenizer.clone(), model.llama.config().context));
            Ok(model)
        })
        .await?;
        let (tokenizer, context) = rx
            .recv()
            .map_err(|_| BackendError::Internal("the model loaded without its tokenizer".into()))?;
        Ok(Self {
            generator,
            tokenizer,
            context,
        })
    }

    /// Unavailable when the worker has died or is wedged.
    pub fn health(&self) -> Result<(), BackendError> {
        self.generator.health()
    }

    /// The whole reply as one completion.
    pub async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, BackendError> {
        let mut events = self.submit(request)?;
        let mut content = String::new();
        loop {
            match events.recv().await {
                Some(Event::Text(text)) => content.push_str(&text),
                Some(Event::Done {
                    finish,
                    prompt_tokens,
                    completion_tokens,
                }) => {
                    let mut response = answer::response(&request.model, content);
                    response.choices[0].finish_reason = Some(finish.as_str().into());
                    response.usage = Some(usage(prompt_tokens, completion_tokens));
                    return Ok(response);
                }
                Some(Event::Failed(e)) => return Err(e),
                None => return Err(stopped()),
            }
        }
    }

    /// The reply as a stream of chunks: the role, then text as it is generated, then the
    /// finish reason (and usage when asked). Dropping the stream stops generation.
    pub fn stream(&self, request: &ChatRequest) -> Result<ChatStream, BackendError> {
        let events = self.submit(request)?;
        let chunk = ChunkMaker {
            id: answer::completion_id(),
            created: answer::unix_time(),
            model: request.model.clone(),
        };
        let include_usage = request.include_usage();
        let first = chunk.delta(Delta {
            role: Some("assistant".into()),
            ..Delta::default()
        });
        let rest = futures::stream::unfold(Some(events), move |state| {
            let chunk = chunk.clone();
            async move {
                let mut events = state?;
                let items: Vec<Result<ChatChunk, BackendError>> = match events.recv().await {
                    Some(Event::Text(text)) => vec![Ok(chunk.delta(Delta {
                        content: Some(text),
                        ..Delta::default()
                    }))],
                    Some(Event::Done {
                        finish,
                        prompt_tokens,
                        completion_tokens,
                    }) => {
                        let mut items = vec![Ok(chunk.finish(finish))];
                        if include_usage {
                            items.push(Ok(chunk.usage(usage(prompt_tokens, completion_tokens))));
                        }
                        return Some((items, None));
                    }
                    Some(Event::Failed(e)) => return Some((vec![Err(e)], None)),
                    None => return Some((vec![Err(stopped())], None)),
                };
                Some((items, Some(events)))
            }
        })
        .flat_map(futures::stream::iter);
        Ok(futures::stream::once(async move { Ok(first) })
            .chain(rest)
            .map(|item| item.map(Answer::Built))
            .boxed())
    }

    fn submit(&self, request: &ChatRequest) -> Result<UnboundedReceiver<Event>, BackendError> {
        self.generator.submit(self.generation(request)?)
    }

    /// Checks the request's parameters and renders its prompt.
    fn generation(&self, request: &ChatRequest) -> Result<Generation, BackendError> {
        let params = &request.params;
        if let Some(n) = params.get("n").filter(|n| !n.is_null())
            && n.as_u64() != Some(1)
        {
            return Err(rejected(
                "this model generates one choice: `n` must be 1",
                "n",
            ));
        }
        for unsupported in ["logprobs", "top_logprobs"] {
            if params
                .get(unsupported)
                .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
            {
                return Err(rejected("this model does not report logprobs", unsupported));
            }
        }
        if params
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty())
        {
            return Err(rejected("this model cannot call tools", "tools"));
        }
        let temperature = number(params, "temperature", 0.0, 2.0)?.unwrap_or(1.0);
        let top_p = number(params, "top_p", 0.0, 1.0)?.unwrap_or(1.0);
        if top_p <= 0.0 {
            return Err(rejected("`top_p` must be above 0", "top_p"));
        }
        let seed = match params.get("seed").filter(|s| !s.is_null()) {
            None => None,
            Some(seed) => Some(
                seed.as_u64()
                    .or_else(|| seed.as_i64().map(|s| s as u64))
                    .ok_or_else(|| rejected("`seed` must be an integer", "seed"))?,
            ),
        };
        let messages: Vec<Message> = request
            .messages
            .iter()
            .map(|m| Message {
                role: match m.role {
                    Role::Developer => "system",
                    other => other.as_str(),
                }
                .to_owned(),
                content: m.joined_text(),
            })
            .collect();
        let prompt = self
            .tokenizer
            .chat_prompt(&messages)
            .map_err(|e| BackendError::Internal(e.to_string()))?;
        if prompt.len() >= self.context {
            return Err(rejected(
                &format!(
                    "the conversation is {} tokens; this model's context holds {}",
                    prompt.len(),
                    self.context
                ),
                "messages",
            ));
        }
        let room = self.context - prompt.len();
        let max_tokens = max_tokens(params)?.map_or(room, |m| m.min(room));
        Ok(Generation {
            prompt,
            max_tokens,
            sampling: Sampling {
                temperature: temperature as f32,
                top_p: top_p as f32,
                seed,
            },
            stop: stops(params)?,
        })
    }
}

/// `max_completion_tokens` (or the older `max_tokens`): a positive integer when present.
fn max_tokens(params: &Map<String, Value>) -> Result<Option<usize>, BackendError> {
    for key in ["max_completion_tokens", "max_tokens"] {
        match params.get(key) {
            None | Some(Value::Null) => continue,
            Some(v) => {
                return match v.as_u64().filter(|&n| n > 0) {
                    Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
                    None => Err(rejected(
                        &format!("`{key}` must be a positive integer"),
                        key,
                    )),
                };
            }
        }
    }
    Ok(None)
}

/// A number within `[min, max]` when present.
fn number(
    params: &Map<String, Value>,
    key: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, BackendError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| (min..=max).contains(x))
            .map(Some)
            .ok_or_else(|| {
                rejected(
                    &format!("`{key}` must be a number from {min} to {max}"),
                    key,
                )
            }),
    }
}

/// `stop`: a string or up to four strings.
fn stops(params: &Map<String, Value>) -> Result<Vec<String>, BackendError> {
    let bad = || {
        rejected(
            &format!("`stop` must be a string or an array of at most {MAX_STOPS} strings"),
            "stop",
        )
    };
    match params.get("stop") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if items.len() <= MAX_STOPS => items
            .iter()
            .map(|s| s.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn usage(prompt_tokens: usize, completion_tokens: usize) -> Usage {
    Usage {
        prompt_tokens: prompt_tokens as u64,
        completion_tokens: completion_tokens as u64,
        total_tokens: (prompt_tokens + completion_tokens) as u64,
        extra: Map::new(),
    }
}

/// The worker went away without finishing: it died.
fn stopped() -> BackendError {
    BackendError::Unavailable("the model's worker stopped before finishing the reply".into())
}

/// Builds the chunks of one stream.
#[derive(Clone)]
struct ChunkMaker {
    id: String,
    created: u64,
    model: String,
}

impl ChunkMaker {
    fn make(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
            extra: Map::new(),
        }
    }

    fn delta(&self, delta: Delta) -> ChatChunk {
        self.choice(delta, None)
    }

    fn finish(&self, finish: Finish) -> ChatChunk {
        self.choice(Delta::default(), Some(finish.as_str().into()))
    }

    fn choice(&self, delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        self.make(
            vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                extra: Map::new(),
            }],
            None,
        )
    }

    fn usage(&self, usage: Usage) -> ChatChunk {
        self.make(Vec::new(), Some(usage))
    }
}
