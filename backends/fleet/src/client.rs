//! The gateway's side: [`FleetBackend`], a [`Backend`] whose requests go over NATS to whichever
//! worker of the model's queue group takes them.

use crate::attempt::{Attempt, Link};
use crate::nats::{self, Dial, NatsSettings};
use crate::protocol::Call;
use crate::stream::{self, relay};
use crate::transcript::TranscriptJson;
use crate::watch::{self, AbortOnDrop, Roster};
use crate::wire;
use crate::{FleetError, subjects, telemetry};
use async_trait::async_trait;
use omnigate_backend::{
    Answer, Backend, BackendError, Capabilities, ChatRequest, ChatResponse, ChatStream,
    EmbeddingsRequest, EmbeddingsResponse, Task, TranscriptionRequest, TranscriptionResponse,
    TranscriptionStream, WireKind,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// One fleet deployment of a model, as the gateway's config declares it.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// How to reach NATS.
    pub nats: NatsSettings,
    /// The fleet's subject prefix, e.g. `omnigate`.
    pub subject_prefix: String,
    /// The model name workers serve it under (part of the request subject).
    pub model: String,
    /// What the model serves, as the gateway's config declares it.
    pub capabilities: Capabilities,
    /// How long one try may wait for the answer (unary calls), for the stream to start, and
    /// for each next stream chunk; then the try fails as a retryable [`BackendError::Timeout`].
    pub per_try_timeout: Duration,
}

/// A model served by a fleet of workers over NATS.
#[derive(Debug)]
pub struct FleetBackend {
    name: String,
    capabilities: Capabilities,
    heartbeat_subject: String,
    link: Link,
    _heartbeats: AbortOnDrop,
}

impl FleetBackend {
    /// Connects to NATS in the background (so a gateway can start before NATS; calls fail fast
    /// as [`BackendError::Unavailable`] until connected) and starts following heartbeats.
    /// Fails only on settings that cannot work.
    pub async fn connect(settings: FleetSettings) -> Result<Self, BackendError> {
        let invalid =
            |why: String| BackendError::Internal(format!("invalid fleet settings: {why}"));
        subjects::check_prefix(&settings.subject_prefix).map_err(invalid)?;
        if settings.model.is_empty() {
            return Err(invalid("the model name is empty".to_owned()));
        }
        if settings.per_try_timeout.is_zero() {
            return Err(invalid("per_try_timeout is zero".to_owned()));
        }
        let client = nats::connect(&settings.nats, Dial::KeepTrying)
            .await
            .map_err(|e| match e {
                FleetError::Settings(why) => invalid(why),
                other => BackendError::Unavailable(other.to_string()),
            })?;
        let roster = Arc::new(Roster::default());
        let heartbeats = watch::listen(&client, &settings.subject_prefix, roster.clone(), false)
            .await
            .map_err(|e| BackendError::Unavailable(e.to_string()))?;
        let url = settings.nats.redacted_url();
        let subject = subjects::request_subject(&settings.subject_prefix, &settings.model);
        Ok(Self {
            name: format!(
                "fleet({url}, {}.{})",
                settings.subject_prefix, settings.model
            ),
            capabilities: settings.capabilities,
            heartbeat_subject: subjects::heartbeat_subject(&settings.subject_prefix),
            link: Link {
                client,
                subject,
                model: settings.model.into(),
                per_try: settings.per_try_timeout,
                roster,
                url,
            },
            _heartbeats: heartbeats,
        })
    }

    fn ensure_serves(&self, task: Task) -> Result<(), BackendError> {
        if self.capabilities.serves(task) {
            Ok(())
        } else {
            Err(BackendError::Unsupported(task))
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.link.per_try
    }

    /// Sends one unary call and reads its whole answer document.
    async fn unary(&self, call: Call, body: Vec<u8>) -> Result<bytes::Bytes, BackendError> {
        let deadline = self.deadline();
        let mut attempt = Attempt::start(&self.link, call, body, deadline).await?;
        attempt.document(deadline).await
    }

    /// Starts a streaming call: resolves once the worker's backend accepted it.
    async fn streaming(&self, call: Call, body: Vec<u8>) -> Result<Attempt, BackendError> {
        let deadline = self.deadline();
        let mut attempt = Attempt::start(&self.link, call, body, deadline).await?;
        attempt.started(deadline).await?;
        Ok(attempt)
    }

    fn record<T>(&self, result: Result<T, BackendError>) -> Result<T, BackendError> {
        telemetry::request(&self.link.model, telemetry::outcome(&result));
        result
    }
}

/// Runs an encoder on the blocking pool (requests carrying media are megabytes).
async fn off_thread(
    encode: impl FnOnce() -> Vec<u8> + Send + 'static,
) -> Result<Vec<u8>, BackendError> {
    tokio::task::spawn_blocking(encode)
        .await
        .map_err(|e| BackendError::Internal(format!("encoding the request stopped: {e}")))
}

async fn encode_chat(request: ChatRequest) -> Result<Vec<u8>, BackendError> {
    if wire::chat_carries_media(&request) {
        off_thread(move || wire::encode_chat(&request)).await
    } else {
        Ok(wire::encode_chat(&request))
    }
}

#[async_trait]
impl Backend for FleetBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities.clone()
    }

    async fn health(&self) -> Result<(), BackendError> {
        if !nats::is_connected(&self.link.client) {
            return Err(BackendError::Unavailable(format!(
                "not connected to NATS at {}",
                self.link.url
            )));
        }
        if self.link.roster.serving(&self.link.model) == 0 {
            return Err(BackendError::Unavailable(format!(
                "no worker serving model {} has sent a heartbeat on {} within three of its \
                 intervals",
                self.link.model, self.heartbeat_subject
            )));
        }
        Ok(())
    }

    async fn chat(&self, request: ChatRequest) -> Result<Answer<ChatResponse>, BackendError> {
        self.ensure_serves(Task::Chat)?;
        let result = async {
            let body = encode_chat(request).await?;
            let text = self.unary(Call::Chat, body).await?;
            relay(text, WireKind::ChatCompletion)
        }
        .await;
        self.record(result)
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, BackendError> {
        self.ensure_serves(Task::Chat)?;
        let result = async {
            let body = encode_chat(request).await?;
            self.streaming(Call::ChatStream, body).await
        }
        .await;
        match result {
            Ok(attempt) => Ok(stream::chat(attempt, self.link.model.clone())),
            Err(err) => self.record(Err(err)),
        }
    }

    async fn embeddings(
        &self,
        request: EmbeddingsRequest,
    ) -> Result<Answer<EmbeddingsResponse>, BackendError> {
        self.ensure_serves(Task::Embeddings)?;
        let result = async {
            let body = wire::encode_embeddings(&request);
            let text = self.unary(Call::Embeddings, body).await?;
            relay(text, WireKind::Embeddings)
        }
        .await;
        self.record(result)
    }

    async fn transcribe(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse, BackendError> {
        self.ensure_serves(Task::Transcription)?;
        let result = async {
            let body = off_thread(move || wire::encode_transcription(&request)).await?;
            let text = self.unary(Call::Transcribe, body).await?;
            serde_json::from_slice::<TranscriptJson>(&text)
                .map(TranscriptionResponse::from)
                .map_err(|e| {
                    BackendError::BadResponse(format!("worker sent a bad transcript: {e}"))
                })
        }
        .await;
        self.record(result)
    }

    async fn transcribe_stream(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionStream, BackendError> {
        self.ensure_serves(Task::Transcription)?;
        let result = async {
            let body = off_thread(move || wire::encode_transcription(&request)).await?;
            self.streaming(Call::TranscribeStream, body).await
        }
        .await;
        match result {
            Ok(attempt) => Ok(stream::transcription(attempt, self.link.model.clone())),
            Err(err) => self.record(Err(err)),
        }
    }
}
