//! Shared fixtures: settings for a test server, workers run in-process, test backends that can
//! be held at a gate, and bounded waits on events.

use async_trait::async_trait;
use futures::StreamExt;
use omnigate_backend::echo::EchoBackend;
use omnigate_backend::{
    Answer, Backend, BackendError, Capabilities, ChatRequest, ChatResponse, ChatStream, Message,
    Modality, Role, Task, TranscriptionEvent, TranscriptionRequest, TranscriptionResponse,
    TranscriptionSegment, TranscriptionStream,
};
use omnigate_backend_fleet::{
    Credentials, FleetBackend, FleetError, FleetSettings, FleetWatch, NatsSettings, ServedModel,
    WorkerSettings, WorkerStatus,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

/// The longest any event is waited for.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn nats(url: &str) -> NatsSettings {
    NatsSettings {
        url: url.to_owned(),
        credentials: Credentials::None,
        tls_required: false,
        root_certificate: None,
        connect_timeout: Duration::from_secs(2),
        name: "fleet-test".to_owned(),
    }
}

pub fn echo_caps() -> Capabilities {
    EchoBackend::new().capabilities()
}

pub fn transcription_caps() -> Capabilities {
    Capabilities {
        tasks: [Task::Transcription].into_iter().collect(),
        modalities: [Modality::Audio].into_iter().collect(),
    }
}

pub async fn backend(url: &str, prefix: &str, model: &str, per_try: Duration) -> FleetBackend {
    backend_with(nats(url), prefix, model, echo_caps(), per_try).await
}

pub async fn backend_with(
    nats: NatsSettings,
    prefix: &str,
    model: &str,
    capabilities: Capabilities,
    per_try: Duration,
) -> FleetBackend {
    FleetBackend::connect(FleetSettings {
        nats,
        subject_prefix: prefix.to_owned(),
        model: model.to_owned(),
        capabilities,
        per_try_timeout: per_try,
    })
    .await
    .unwrap()
}

pub fn hello(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![Message::text(Role::User, text)],
        params: Default::default(),
    }
}

/// The text of a chat answer.
pub fn text_of(answer: Answer<ChatResponse>) -> String {
    let response = answer.into_built().unwrap();
    response.choices[0].message.content.clone().unwrap()
}

/// A worker running in-process.
pub struct Worker {
    task: JoinHandle<Result<(), FleetError>>,
    stop: Option<oneshot::Sender<()>>,
}

pub fn worker_settings(url: &str, prefix: &str, id: &str, max_in_flight: usize) -> WorkerSettings {
    WorkerSettings {
        nats: nats(url),
        subject_prefix: prefix.to_owned(),
        worker_id: id.to_owned(),
        device: "cpu".to_owned(),
        max_in_flight,
        heartbeat_interval: Duration::from_millis(100),
    }
}

pub fn serving(name: &str, backend: impl Backend) -> ServedModel {
    ServedModel {
        name: name.to_owned(),
        backend: Arc::new(backend),
    }
}

impl Worker {
    pub fn spawn(settings: WorkerSettings, models: Vec<ServedModel>) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(omnigate_backend_fleet::serve(settings, models, async {
            let _ = stopped.await;
        }));
        Self {
            task,
            stop: Some(stop),
        }
    }

    /// Asks it to drain (it returns once its work is done).
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Whether `serve` has returned.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for `serve` to return.
    pub async fn finished(self) -> Result<(), FleetError> {
        within(self.task).await.unwrap()
    }

    /// Kills it: its task (and so its NATS connection) is gone at once, work and all.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Awaits `future`, failing the test after [`PATIENCE`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("an awaited event did not happen in time")
}

/// Polls `condition` until it holds (every 10 ms, at most [`PATIENCE`]).
pub async fn until(mut condition: impl FnMut() -> bool) {
    within(async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Waits until `backend` is healthy (a worker's heartbeat arrived).
pub async fn healthy(backend: &FleetBackend) {
    within(async {
        while backend.health().await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Waits until `backend` is connected to NATS (its health then complains about workers, if
/// anything, not about NATS).
pub async fn connected(backend: &FleetBackend) {
    within(async {
        while backend
            .health()
            .await
            .is_err_and(|e| e.to_string().contains("not connected"))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Waits until the fleet view shows a worker for which `condition` holds.
pub async fn seen(watch: &FleetWatch, condition: impl Fn(&WorkerStatus) -> bool) -> WorkerStatus {
    let mut found = None;
    until(|| {
        found = watch.workers().into_iter().find(|w| condition(w));
        found.is_some()
    })
    .await;
    found.unwrap()
}

/// The echo backend held at a gate: every call signals `entered`, then waits for a permit
/// (streams send their first chunk, then wait).
#[derive(Clone)]
pub struct Gated {
    echo: EchoBackend,
    entered: mpsc::UnboundedSender<String>,
    permits: Arc<Semaphore>,
}

/// The test's end of a [`Gated`] backend.
pub struct Gate {
    entered: mpsc::UnboundedReceiver<String>,
    permits: Arc<Semaphore>,
}

impl Gate {
    /// Waits until a call reached the backend; returns its last user text.
    pub async fn entered(&mut self) -> String {
        within(self.entered.recv()).await.unwrap()
    }

    /// Lets `n` held calls go on.
    pub fn open(&self, n: usize) {
        self.permits.add_permits(n);
    }
}

pub fn gated() -> (Gated, Gate) {
    let (tx, rx) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(0));
    (
        Gated {
            echo: EchoBackend::new(),
            entered: tx,
            permits: permits.clone(),
        },
        Gate {
            entered: rx,
            permits,
        },
    )
}

async fn pass(permits: &Semaphore) {
    permits.acquire().await.unwrap().forget();
}

#[async_trait]
impl Backend for Gated {
    fn name(&self) -> &str {
        "gated"
    }

    fn capabilities(&self) -> Capabilities {
        self.echo.capabilities()
    }

    async fn health(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn chat(&self, request: ChatRequest) -> Result<Answer<ChatResponse>, BackendError> {
        let _ = self.entered.send(request.messages[0].joined_text());
        pass(&self.permits).await;
        self.echo.chat(request).await
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, BackendError> {
        let _ = self.entered.send(request.messages[0].joined_text());
        let mut inner = self.echo.chat_stream(request).await?;
        let first = inner.next().await;
        let permits = self.permits.clone();
        let rest = futures::stream::once(async move {
            pass(&permits).await;
            inner
        })
        .flatten();
        Ok(futures::stream::iter(first).chain(rest).boxed())
    }
}

/// Transcribes by describing the samples it received: their count and sum, so a test can tell
/// that every byte of a large upload arrived. Streams a delta per 10 s of audio.
#[derive(Clone, Default)]
pub struct Counter;

/// What [`Counter`] says about `samples`.
pub fn describe(samples: &[f32]) -> String {
    let sum: f64 = samples.iter().map(|&s| f64::from(s)).sum();
    format!("{} samples summing to {sum:.3}", samples.len())
}

#[async_trait]
impl Backend for Counter {
    fn name(&self) -> &str {
        "counter"
    }

    fn capabilities(&self) -> Capabilities {
        transcription_caps()
    }

    async fn health(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn transcribe(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse, BackendError> {
        let duration = request.audio.duration_secs();
        Ok(TranscriptionResponse {
            text: describe(&request.audio.samples),
            language: request.language,
            duration_secs: duration,
            segments: vec![TranscriptionSegment {
                start_secs: 0.0,
                end_secs: duration,
                text: "all".to_owned(),
                decoding: None,
            }],
        })
    }

    async fn transcribe_stream(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionStream, BackendError> {
        let windows = request.audio.samples.len().div_ceil(160_000);
        let done = self.transcribe(request).await?;
        let deltas = (0..windows).map(|i| Ok(TranscriptionEvent::Delta(format!("w{i} "))));
        let events = deltas.chain([Ok(TranscriptionEvent::Done(done))]);
        Ok(futures::stream::iter(events).boxed())
    }
}

/// An offer as a raw worker receives it.
pub struct Offer {
    /// The attempt's inbox (and id).
    pub reply: String,
    pub head: omnigate_backend_fleet::protocol::OfferHead,
    pub body: bytes::Bytes,
}

/// A worker written with raw async-nats: it receives offers and the test scripts its frames.
pub struct RawWorker {
    pub client: async_nats::Client,
    offers: mpsc::UnboundedReceiver<Offer>,
    _task: JoinHandle<()>,
}

impl RawWorker {
    /// Joins the model's queue group like a real worker (or, with `queue: false`, listens to
    /// every request for the model without taking part in the queue group: a snooper).
    pub async fn join(url: &str, prefix: &str, model: &str, queue: bool) -> Self {
        let client = async_nats::connect(url).await.unwrap();
        let subject = omnigate_backend_fleet::subjects::request_subject(prefix, model);
        let mut subscriber = if queue {
            let group = omnigate_backend_fleet::subjects::queue_group(prefix);
            client.queue_subscribe(subject, group).await.unwrap()
        } else {
            client.subscribe(subject).await.unwrap()
        };
        client.flush().await.unwrap();
        let (tx, offers) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                let (head, body) =
                    omnigate_backend_fleet::protocol::decode(&message.payload).unwrap();
                let reply = message.reply.unwrap().to_string();
                let _ = tx.send(Offer { reply, head, body });
            }
        });
        Self {
            client,
            offers,
            _task: task,
        }
    }

    /// Leaves the queue group (and waits until the server knows).
    pub async fn leave(self) {
        self._task.abort();
        let _ = self._task.await;
        self.client.flush().await.unwrap();
    }

    pub async fn offer(&mut self) -> Offer {
        within(self.offers.recv()).await.unwrap()
    }

    /// Publishes one frame to `to`, naming attempt `id`, and waits until the server has it.
    pub async fn frame(
        &self,
        to: &str,
        id: &str,
        seq: u64,
        kind: omnigate_backend_fleet::protocol::FrameKind,
        data: &[u8],
    ) {
        let head = omnigate_backend_fleet::protocol::FrameHead {
            id: id.to_owned(),
            seq,
            kind,
        };
        self.raw(to, omnigate_backend_fleet::protocol::encode(&head, data))
            .await;
    }

    /// Publishes `payload` to `to` as it is, and waits until the server has it.
    pub async fn raw(&self, to: &str, payload: bytes::Bytes) {
        self.client.publish(to.to_owned(), payload).await.unwrap();
        self.client.flush().await.unwrap();
    }
}

/// A whole chat completion saying `text`.
pub fn completion_json(text: &str) -> String {
    serde_json::json!({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
        "finish_reason": "stop"}]})
    .to_string()
}

/// One chat chunk adding `text`.
pub fn chunk_json(text: &str) -> String {
    serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    .to_string()
}
