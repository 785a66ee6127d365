//! The inference-backend boundary of omnigate.
//!
//! Everything above this crate (HTTP, auth, media normalization, routing) talks to models only
//! through [`Backend`], held as `Arc<dyn Backend>`. Everything below it (remote OpenAI-compatible
//! servers, in-process models, worker pools) implements it. No HTTP types cross this line: requests
//! arrive as typed values whose media parts are already normalized, answers leave as typed values
//! (serializable in the OpenAI wire shape, which is the lingua franca of model servers).

mod build;
mod chat;
mod embeddings;
mod error;
mod media;
mod number_arrays;
mod relay;
mod relay_counts;
mod relay_usage;
mod response;
mod tensor;
mod tensor_json;
pub mod trace_context;
mod transcription;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "test-backend")]
pub mod echo;

pub use build::BuildError;
pub use chat::{ChatRequest, ContentPart, Message, MessageContent, Role};
pub use embeddings::{
    Embedding, EmbeddingInput, EmbeddingVector, EmbeddingsRequest, EmbeddingsResponse,
};
pub use error::BackendError;
pub use media::{
    Audio, EncodedImage, ImageData, ImageFormat, ImagePart, ImageTensor, Video, VideoFrame,
};
pub use relay::{Answer, RelayError, RelayedJson, TokenCounts, WireKind};
pub use response::{
    AssistantMessage, ChatChoice, ChatChunk, ChatResponse, ChunkChoice, Delta, Usage,
};
pub use tensor::{
    Datatype, InferRequest, InferResponse, Signature, Tensor, TensorSpec, element_count,
};
pub use tensor_json::{JsonData, data_from_json};
pub use transcription::{
    SegmentDecoding, TranscriptionRequest, TranscriptionResponse, TranscriptionSegment,
};

use async_trait::async_trait;
use futures::stream::BoxStream;
use std::collections::BTreeSet;
use std::time::Duration;

/// A stream of chat deltas; it ends after the last chunk (finish reason, then usage if asked).
/// Dropping it cancels the generation.
pub type ChatStream = BoxStream<'static, Result<Answer<ChatChunk>, BackendError>>;

/// What a backend can be asked to do. The config's `tasks = [...]` parses straight into it
/// (`chat`, `embeddings`, `transcription`, `infer`), so no other crate keeps a copy to map by
/// hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Chat completions (plain and streaming).
    Chat,
    /// Text embeddings.
    Embeddings,
    /// Speech to text.
    Transcription,
    /// Inference on typed tensors (Open Inference Protocol v2): `POST /v2/models/{m}/infer`.
    Infer,
}

/// A kind of input a backend accepts in chat messages. The config's `modalities = [...]`
/// parses straight into it (`text`, `image`, `audio`, `video`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Text.
    Text,
    /// Pictures.
    Image,
    /// Sound.
    Audio,
    /// Moving pictures.
    Video,
}

/// What a backend serves: its tasks and the input modalities its chat accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Tasks the backend implements; the others answer [`BackendError::Unsupported`].
    pub tasks: BTreeSet<Task>,
    /// Input modalities accepted in chat messages.
    pub modalities: BTreeSet<Modality>,
}

impl Task {
    /// The name the config uses (`chat`, `embeddings`, `transcription`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Embeddings => "embeddings",
            Self::Transcription => "transcription",
            Self::Infer => "infer",
        }
    }
}

impl Modality {
    /// The name the config uses (`text`, `image`, `audio`, `video`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

impl Capabilities {
    /// Whether `task` is served.
    pub fn serves(&self, task: Task) -> bool {
        self.tasks.contains(&task)
    }
}

/// A backend's upstream connections (read when `/metrics` is scraped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connections {
    /// Open now, idle in the pool or carrying a request.
    pub open: u64,
    /// Opened since the backend was built.
    pub opened: u64,
}

/// An inference backend. Implementations must be cheap to call concurrently: the gateway holds
/// one `Arc<dyn Backend>` per deployment and calls it from many tasks at once.
///
/// Every task method has a default that answers [`BackendError::Unsupported`], so a backend
/// implements only what its [`Capabilities`] declare.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and metrics, e.g. `openai(http://10.0.0.5:8000/v1)`.
    fn name(&self) -> &str;

    /// Tasks and modalities served. Must not change over the backend's life.
    fn capabilities(&self) -> Capabilities;

    /// Whether the backend can take requests now (for readiness). Should answer quickly.
    async fn health(&self) -> Result<(), BackendError>;

    /// Its upstream connections now, for the gateway's metrics; `None` for a backend without a
    /// connection pool of its own (in-process models, the fleet's one NATS connection).
    fn connections(&self) -> Option<Connections> {
        None
    }

    /// How long a whole-answer call (`chat`, `embeddings`, `transcribe`, `infer`) may take
    /// before the backend gives up on it by itself, answering [`BackendError::Timeout`]; `None`
    /// when it sets no such bound. A router whose own per-try timeout is no shorter then needs
    /// no timer of its own for the try. Streams are not covered: their first event may come
    /// later.
    fn call_timeout(&self) -> Option<Duration> {
        None
    }

    /// One chat completion.
    async fn chat(&self, request: ChatRequest) -> Result<Answer<ChatResponse>, BackendError> {
        let _ = request;
        Err(BackendError::Unsupported(Task::Chat))
    }

    /// A streamed chat completion. The future resolves once the backend has accepted the request
    /// (so errors before the first token are still plain errors); deltas follow on the stream.
    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, BackendError> {
        let _ = request;
        Err(BackendError::Unsupported(Task::Chat))
    }

    /// Embeddings for every input, in order.
    async fn embeddings(
        &self,
        request: EmbeddingsRequest,
    ) -> Result<Answer<EmbeddingsResponse>, BackendError> {
        let _ = request;
        Err(BackendError::Unsupported(Task::Embeddings))
    }

    /// Speech to text.
    async fn transcribe(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse, BackendError> {
        let _ = request;
        Err(BackendError::Unsupported(Task::Transcription))
    }

    /// One inference on typed tensors (Open Inference Protocol v2). The inputs are checked
    /// against the model's [`Signature`] by the backend before anything is sent; a mismatch is a
    /// [`BackendError::Rejected`] naming the input (`inputs[i]`).
    async fn infer(&self, request: InferRequest) -> Result<InferResponse, BackendError> {
        let _ = request;
        Err(BackendError::Unsupported(Task::Infer))
    }

    /// The tensors the model takes and gives, as the backend knows them (a v2 server's model
    /// metadata). Backends that do not serve [`Task::Infer`] answer `Unsupported`.
    async fn signature(&self) -> Result<Signature, BackendError> {
        Err(BackendError::Unsupported(Task::Infer))
    }

    /// Speech to text as it is recognized: text deltas, then the whole transcript. The default
    /// runs [`Backend::transcribe`] and sends its text as one delta; backends that recognize
    /// piece by piece (window after window) override it.
    async fn transcribe_stream(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionStream, BackendError> {
        let done = self.transcribe(request).await?;
        let events = [
            TranscriptionEvent::Delta(done.text.clone()),
            TranscriptionEvent::Done(done),
        ];
        Ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))))
    }
}

/// A stream of transcription events; dropping it cancels the recognition.
pub type TranscriptionStream = BoxStream<'static, Result<TranscriptionEvent, BackendError>>;

/// One event of a streamed transcription.
#[derive(Debug, Clone)]
pub enum TranscriptionEvent {
    /// More text, in order (pieces are joined as they come, spaces included).
    Delta(String),
    /// The end: the whole transcript.
    Done(TranscriptionResponse),
}
