//! A backend for Open Inference Protocol v2 servers (Triton Inference Server, KServe, Seldon
//! MLServer, OpenVINO Model Server, TorchServe's v2 mode): typed tensors in and out over gRPC
//! (`inference.GRPCInferenceService`, tensor bytes in `raw_input_contents`) or REST (JSON, or
//! the binary-data extension where the server has it).
//!
//! It serves [`Task::Infer`] always, `/v1/embeddings` when the model's config asks for it (the
//! texts as a BYTES tensor, the output tensor as the vectors) and chat through the generate
//! extension where configured. The model's metadata is read when the backend starts and again
//! after every failure to reach the server, and checked against the gateway's config (a
//! mismatch names the config key); each request's inputs are checked against it before they
//! are sent. No batching is added: v2 servers batch on their side, and concurrent calls share
//! the configured HTTP/2 connections.

pub mod contract;
mod embed;
mod errors;
mod generate;
mod grpc;
mod rest;

/// The messages and client generated from `proto/grpc_predict_v2.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("inference");
}

pub use contract::{Contract, EmbeddingTensors, MediaInput, Mismatch};
pub use generate::{Dialect, Generate};

use async_trait::async_trait;
use contract::Verified;
use omnigate_backend::{
    Answer, Backend, BackendError, Capabilities, ChatRequest, ChatResponse, ChatStream,
    EmbeddingsRequest, EmbeddingsResponse, InferRequest, InferResponse, Modality, Signature, Task,
};
use secrecy::SecretString;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use url::Url;

/// How the server is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC.
    Grpc,
    /// REST.
    Http,
}

/// Where the model is and how to reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The server's gRPC or REST address (`https://` for TLS).
    pub url: Url,
    /// Which of the two it is.
    pub protocol: Protocol,
    /// The model's name on the server.
    pub model: String,
    /// Its version; `None` for the server's default.
    pub version: Option<String>,
    /// Whole-call deadline (streams: the longest wait for the head or the next event).
    pub timeout: Duration,
    /// Deadline for opening a connection.
    pub connect_timeout: Duration,
    /// HTTP/2 connections concurrent calls share.
    pub connections: usize,
    /// Headers (gRPC metadata) sent with every call; values redacted in `Debug`.
    pub headers: Vec<(String, SecretString)>,
    /// A CA certificate (PEM) to trust besides the system's roots.
    pub root_certificate: Option<Vec<u8>>,
}

/// Everything a backend needs.
#[derive(Debug, Clone)]
pub struct OipSettings {
    /// The server and model.
    pub endpoint: Endpoint,
    /// What the gateway's config expects of the model.
    pub contract: Contract,
    /// Chat through the generate extension (REST only); `None`: no chat.
    pub generate: Option<Generate>,
}

/// Why a backend could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// The server's model does not fit the config.
    #[error("{0}")]
    Mismatch(Mismatch),
    /// The settings cannot work (a bad URL, header or certificate).
    #[error("{0}")]
    Setup(String),
}

#[expect(
    clippy::large_enum_variant,
    reason = "one per backend, made once at startup: its size costs nothing"
)]
enum Upstream {
    Grpc(grpc::GrpcClient),
    Rest(rest::RestClient),
}

/// A model on a v2 server.
pub struct OipBackend {
    name: String,
    settings: OipSettings,
    upstream: Upstream,
    /// The model's metadata, checked; `None` until read, and again after the server could not
    /// be reached (it may come back serving another model).
    verified: Mutex<Option<Arc<Verified>>>,
}

impl OipBackend {
    /// Builds the clients; nothing is sent yet.
    pub fn new(settings: OipSettings) -> Result<Self, ConnectError> {
        let endpoint = settings.endpoint.clone();
        let protocol = match endpoint.protocol {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        };
        if settings.generate.is_some() && endpoint.protocol == Protocol::Grpc {
            return Err(ConnectError::Setup(
                "the generate extension is REST only".to_owned(),
            ));
        }
        let name = format!("oip({protocol} {} model={})", endpoint.url, endpoint.model);
        let upstream = match endpoint.protocol {
            Protocol::Grpc => {
                Upstream::Grpc(grpc::GrpcClient::new(endpoint).map_err(ConnectError::Setup)?)
            }
            Protocol::Http => {
                Upstream::Rest(rest::RestClient::new(endpoint).map_err(ConnectError::Setup)?)
            }
        };
        Ok(Self {
            name,
            settings,
            upstream,
            verified: Mutex::new(None),
        })
    }

    /// Builds the backend and reads the model's metadata. A model that does not fit the
    /// contract, or that the server does not have, is an error naming the config key; a server
    /// that does not answer yet is not (its metadata is read when it does, before any request
    /// is sent).
    pub async fn connect(settings: OipSettings) -> Result<Self, ConnectError> {
        let backend = Self::new(settings)?;
        match backend.metadata().await {
            Ok(signature) => {
                let verified = contract::verify(&backend.settings.contract, signature)
                    .map_err(ConnectError::Mismatch)?;
                backend.remember(verified);
            }
            Err(BackendError::Upstream {
                status: 404,
                message,
            }) => {
                return Err(ConnectError::Mismatch(Mismatch {
                    key: format!("{}.model", backend.settings.contract.deployment_key),
                    message: format!(
                        "the server has no model `{}`: {message}",
                        backend.settings.endpoint.model
                    ),
                }));
            }
            Err(e) => tracing::warn!(
                backend = %backend.name,
                error = %e,
                "the v2 server did not answer; its model's metadata will be checked when it does"
            ),
        }
        Ok(backend)
    }

    async fn metadata(&self) -> Result<Signature, BackendError> {
        match &self.upstream {
            Upstream::Grpc(client) => client.metadata().await,
            Upstream::Rest(client) => client.metadata().await,
        }
    }

    fn remember(&self, verified: Verified) -> Arc<Verified> {
        let verified = Arc::new(verified);
        *self.verified.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&verified));
        verified
    }

    /// The checked metadata, read now if it is not known.
    async fn verified(&self) -> Result<Arc<Verified>, BackendError> {
        if let Some(known) = self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(known);
        }
        let signature = self.metadata().await?;
        match contract::verify(&self.settings.contract, signature) {
            Ok(verified) => Ok(self.remember(verified)),
            Err(mismatch) => {
                tracing::error!(backend = %self.name, %mismatch, "the v2 server's model does not fit the config");
                Err(BackendError::Unavailable(format!(
                    "the v2 server's model does not fit the config: {mismatch}"
                )))
            }
        }
    }

    /// Passes `result` on; a server that could not be reached has its model's metadata read
    /// again before the next call.
    fn watch<T>(&self, result: Result<T, BackendError>) -> Result<T, BackendError> {
        if let Err(BackendError::Unavailable(_)) = &result {
            *self.verified.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        result
    }

    async fn send(&self, request: InferRequest) -> Result<InferResponse, BackendError> {
        let result = match &self.upstream {
            Upstream::Grpc(client) => client.infer(request).await,
            Upstream::Rest(client) => client.infer(request).await,
        };
        self.watch(result)
    }

    fn generate(&self) -> Result<(&Generate, &rest::RestClient), BackendError> {
        match (&self.settings.generate, &self.upstream) {
            (Some(generate), Upstream::Rest(client)) => Ok((generate, client)),
            _ => Err(BackendError::Unsupported(Task::Chat)),
        }
    }
}

#[async_trait]
impl Backend for OipBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        let mut tasks = std::collections::BTreeSet::from([Task::Infer]);
        if self.settings.contract.embedding.is_some() {
            tasks.insert(Task::Embeddings);
        }
        if self.settings.generate.is_some() {
            tasks.insert(Task::Chat);
        }
        Capabilities {
            tasks,
            modalities: [Modality::Text].into(),
        }
    }

    async fn health(&self) -> Result<(), BackendError> {
        let result = match &self.upstream {
            Upstream::Grpc(client) => client.health().await,
            Upstream::Rest(client) => client.health().await,
        };
        self.watch(result)?;
        // A server that came back with another model is not healthy for this deployment.
        self.watch(self.verified().await).map(|_| ())
    }

    async fn infer(&self, mut request: InferRequest) -> Result<InferResponse, BackendError> {
        let verified = self.watch(self.verified().await)?;
        contract::check_inputs(&verified.signature, &mut request.inputs)?;
        if let Some((i, name)) = request
            .outputs
            .iter()
            .enumerate()
            .find(|(_, name)| !verified.signature.outputs.iter().any(|o| &&o.name == name))
        {
            return Err(BackendError::Rejected {
                status: 400,
                message: format!("The model has no output `{name}`."),
                param: Some(format!("outputs[{i}]")),
            });
        }
        self.send(request).await
    }

    async fn signature(&self) -> Result<Signature, BackendError> {
        Ok(self.watch(self.verified().await)?.signature.clone())
    }

    async fn embeddings(
        &self,
        request: EmbeddingsRequest,
    ) -> Result<Answer<EmbeddingsResponse>, BackendError> {
        let verified = self.watch(self.verified().await)?;
        let Some((input, output)) = &verified.embedding else {
            return Err(BackendError::Unsupported(Task::Embeddings));
        };
        let infer = embed::request(&request, input, output)?;
        let answer = self.send(infer).await?;
        embed::response(&request, answer, output).map(Answer::Built)
    }

    async fn chat(&self, request: ChatRequest) -> Result<Answer<ChatResponse>, BackendError> {
        let (generate, client) = self.generate()?;
        let verified = self.watch(self.verified().await)?;
        let result = generate.chat(client, &verified.signature, request).await;
        self.watch(result).map(Answer::Built)
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, BackendError> {
        let (generate, client) = self.generate()?;
        let verified = self.watch(self.verified().await)?;
        let timeout = self.settings.endpoint.timeout;
        let result = generate
            .chat_stream(client, &verified.signature, request, timeout)
            .await;
        self.watch(result)
    }
}
