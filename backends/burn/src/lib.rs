//! omnigate's embedded backend: real models running in-process on burn, so the gateway answers
//! chat, embeddings, OCR, voice-activity and speech-recognition requests on a laptop with no
//! other server.
//!
//! Each deployment runs one model ([`Architecture`]) on its own worker thread behind a dynamic
//! [`batcher`](BatchLimits): concurrent requests share forward passes, the queue is bounded
//! (a full one answers 429), and the async executor never runs model code. The chat model
//! batches continuously instead (see `generate.rs`): requests join and leave the running batch
//! at every generated token.

mod answer;
mod architecture;
mod asr;
mod batcher;
mod device;
mod embed;
mod generate;
mod inputs;
mod llm;
mod ocr;
mod stop;
mod vad;
mod worker_health;
mod worker_thread;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use image::RgbImage;
use omnigate_backend::{
    Answer, Backend, BackendError, Capabilities, ChatRequest, ChatResponse, ChatStream,
    EmbeddingsRequest, EmbeddingsResponse, Task, TranscriptionRequest, TranscriptionResponse,
    TranscriptionStream,
};
use omnigate_ppocr::TextLine;
use omnigate_silero::SpeechSegment;

pub use architecture::Architecture;
pub use batcher::{BatchLimits, BatchModel, Batcher};
pub use device::ComputeDevice;

/// A failure for a model's worker to act out, for tests of health and readiness (feature
/// `fault-injection`). It travels the worker's request queue, so it is acted out after the
/// requests queued before it.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The worker thread dies as soon as it reaches this (at once when idle), by a panic that
    /// escapes its loop; requests queued behind it are answered "worker has stopped" (503).
    KillWorker,
    /// The worker's next batch hangs this long, busy, before running, as a stuck forward pass
    /// would: past [`BatchLimits::wedged_after`] the worker reports itself wedged.
    Wedge(std::time::Duration),
}

/// How to start one embedded model.
#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    /// Which model family.
    pub architecture: Architecture,
    /// The folder holding [`Architecture::files`] (already fetched).
    pub model_dir: PathBuf,
    /// Batching and queueing.
    pub limits: BatchLimits,
    /// The folder of [`Architecture::companion`]'s files, for architectures that have one.
    pub companion_dir: Option<PathBuf>,
    /// Where the model runs (a companion model runs there too).
    pub device: ComputeDevice,
}

enum Runner {
    Embed(Batcher<String, embed::Embedded>, usize),
    Ocr(Batcher<RgbImage, Vec<TextLine>>),
    Vad(Batcher<Arc<[f32]>, Vec<SpeechSegment>>),
    Asr(asr::Asr),
    Chat(Box<llm::Chat>),
}

/// One model running in-process.
pub struct EmbeddedBackend {
    name: String,
    architecture: Architecture,
    runner: Runner,
}

impl EmbeddedBackend {
    /// Loads the model on its own worker thread; returns when it is ready to serve.
    pub async fn start(name: &str, settings: EmbeddedSettings) -> Result<Self, BackendError> {
        let EmbeddedSettings {
            architecture,
            model_dir: dir,
            limits,
            companion_dir,
            device,
        } = settings;
        let device = device.open()?;
        let runner = match architecture {
            Architecture::MiniLm => {
                // The width is the loaded model's; it is read on the worker thread that owns it.
                let dimensions = Arc::new(std::sync::OnceLock::new());
                let width = dimensions.clone();
                let batcher = Batcher::start(name, limits, move || {
                    let model = embed::EmbedModel::load(&dir, &device)?;
                    let _ = width.set(model.dimensions());
                    Ok(model)
                })
                .await?;
                Runner::Embed(batcher, dimensions.get().copied().unwrap_or_default())
            }
            Architecture::PpOcr => Runner::Ocr(
                Batcher::start(name, limits, move || ocr::OcrModel::load(&dir, &device)).await?,
            ),
            Architecture::SileroVad => Runner::Vad(
                Batcher::start(name, limits, move || vad::VadModel::load(&dir, &device)).await?,
            ),
            Architecture::Whisper => {
                let vad_dir = companion_dir.ok_or_else(|| {
                    BackendError::Unavailable("Whisper needs the Silero VAD files beside it".into())
                })?;
                let vad_device = device.clone();
                let vad_name = format!("{name}-vad");
                // The companion batches by its own defaults, but the operator's patience
                // with a stuck batch is the deployment's.
                let vad_limits = BatchLimits {
                    wedged_after: limits.wedged_after,
                    ..BatchLimits::default()
                };
                let vad = Batcher::start(&vad_name, vad_limits, move || {
                    vad::VadModel::load(&vad_dir, &vad_device)
                })
                .await?;
                let whisper =
                    Batcher::start(name, limits, move || asr::AsrModel::load(&dir, &device))
                        .await?;
                Runner::Asr(asr::Asr { vad, whisper })
            }
            Architecture::SmolLm2 => Runner::Chat(Box::new(
                llm::Chat::start(name, limits, dir.join(omnigate_smollm2::FILE_NAME), device)
                    .await?,
            )),
        };
        tracing::info!(model = name, architecture = %architecture, "embedded model loaded");
        Ok(Self {
            name: name.to_owned(),
            architecture,
            runner,
        })
    }

    /// Makes the model's worker act out `fault` (for Whisper, the speech-recognition worker,
    /// not its VAD companion). See [`Fault`] for when.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub fn inject_fault(&self, fault: Fault) {
        match &self.runner {
            Runner::Embed(batcher, _) => batcher.inject_fault(fault),
            Runner::Ocr(batcher) => batcher.inject_fault(fault),
            Runner::Vad(batcher) => batcher.inject_fault(fault),
            Runner::Asr(asr) => asr.whisper.inject_fault(fault),
            Runner::Chat(_) => tracing::warn!(?fault, "the chat model takes no injected faults"),
        }
    }

    async fn answer(&self, request: &ChatRequest) -> Result<String, BackendError> {
        match &self.runner {
            Runner::Ocr(batcher) => ocr::answer(batcher, request).await,
            Runner::Vad(batcher) => vad::answer(batcher, request).await,
            Runner::Asr(asr) => asr.answer(request).await,
            Runner::Embed(..) | Runner::Chat(_) => Err(BackendError::Unsupported(Task::Chat)),
        }
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.architecture.capabilities()
    }

    /// Unavailable when a worker thread of the model has died or is wedged in one batch.
    async fn health(&self) -> Result<(), BackendError> {
        match &self.runner {
            Runner::Embed(batcher, _) => batcher.health(),
            Runner::Ocr(batcher) => batcher.health(),
            Runner::Vad(batcher) => batcher.health(),
            Runner::Asr(asr) => asr.vad.health().and_then(|()| asr.whisper.health()),
            Runner::Chat(chat) => chat.health(),
        }
    }

    async fn chat(&self, request: ChatRequest) -> Result<Answer<ChatResponse>, BackendError> {
        if let Runner::Chat(chat) = &self.runner {
            return chat.complete(&request).await.map(Answer::Built);
        }
        let content = self.answer(&request).await?;
        Ok(answer::response(&request.model, content).into())
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, BackendError> {
        if let Runner::Chat(chat) = &self.runner {
            return chat.stream(&request);
        }
        let content = self.answer(&request).await?;
        let chunks = answer::chunks(&request.model, content, request.include_usage());
        let chunks = chunks.into_iter().map(|chunk| Ok(Answer::Built(chunk)));
        Ok(Box::pin(futures::stream::iter(chunks)))
    }

    async fn embeddings(
        &self,
        request: EmbeddingsRequest,
    ) -> Result<Answer<EmbeddingsResponse>, BackendError> {
        match &self.runner {
            Runner::Embed(batcher, dimensions) => embed::embeddings(batcher, *dimensions, request)
                .await
                .map(Answer::Built),
            _ => Err(BackendError::Unsupported(Task::Embeddings)),
        }
    }

    async fn transcribe(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse, BackendError> {
        match &self.runner {
            Runner::Asr(asr) => asr.transcribe(request).await,
            _ => Err(BackendError::Unsupported(Task::Transcription)),
        }
    }

    async fn transcribe_stream(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionStream, BackendError> {
        match &self.runner {
            Runner::Asr(asr) => asr.transcribe_stream(request).await,
            _ => Err(BackendError::Unsupported(Task::Transcription)),
        }
    }
}

/// A 400 for the client: what was wrong and which parameter.
pub(crate) fn rejected(message: &str, param: &str) -> BackendError {
    BackendError::Rejected {
        status: 400,
        message: message.to_owned(),
        param: Some(param.to_owned()),
    }
}
