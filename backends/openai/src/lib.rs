//! A backend that forwards to any OpenAI-compatible HTTP server (vLLM, llama.cpp server, Ollama,
//! TGI, hosted APIs) over one pooled keep-alive client per deployment: TCP_NODELAY, HTTP/2 where
//! the upstream offers it through ALPN, streaming relayed event by event as it arrives.

mod client;
mod counted;
mod errors;
mod sse;
mod stream;
mod wire;

use async_trait::async_trait;
use omnigate_backend::{
    Answer, Backend, BackendError, Capabilities, ChatRequest, ChatResponse, ChatStream,
    EmbeddingsRequest, EmbeddingsResponse, RelayError, RelayedJson, Task, TranscriptionRequest,
    TranscriptionResponse, WireKind,
};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;
use url::Url;

/// How to reach one upstream deployment.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// Base URL including the API prefix, e.g. `http://10.0.0.5:8000/v1`.
    pub base_url: Url,
    /// Bearer key for the upstream: redacted in `Debug`, zeroed when dropped, exposed only to
    /// build the `Authorization` header (itself marked sensitive).
    pub api_key: Option<SecretString>,
    /// Whole-call deadline for plain requests; for streams, the longest wait for the response
    /// head and between two events.
    pub timeout: Duration,
    /// Deadline for opening a connection.
    pub connect_timeout: Duration,
    /// What the upstream model serves (an OpenAI-compatible server cannot tell us).
    pub capabilities: Capabilities,
    /// The server's own health path (e.g. `/health` on vLLM, TGI and llama.cpp), from the
    /// server's root; any 2xx is healthy. `None`: `GET {base_url}/models` must answer JSON.
    pub health_path: Option<String>,
}

/// The remote OpenAI-compatible backend.
pub struct OpenAiBackend {
    name: String,
    settings: OpenAiSettings,
    /// JSON calls, the hot path.
    upstream: client::UpstreamClient,
    /// Multipart uploads (transcriptions), which reqwest encodes.
    uploads: reqwest::Client,
    chat_uri: http::Uri,
    embeddings_uri: http::Uri,
    /// What [`Backend::health`] asks.
    health_uri: http::Uri,
    transcriptions_url: Url,
    translations_url: Url,
}

impl OpenAiBackend {
    /// Builds the backend and its connection pools (no connection is opened yet).
    pub fn new(settings: OpenAiSettings) -> Result<Self, BackendError> {
        let upstream = client::UpstreamClient::new(
            &client::uri(&settings.base_url)?,
            settings.api_key.as_ref(),
            settings.connect_timeout,
        )?;
        let uploads = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(60))
            // Upstreams are configured by the operator, never taken from requests; still, do not
            // let an upstream bounce us elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("omnigate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BackendError::Internal(format!("cannot build HTTP client: {e}")))?;
        let join = |path: &str| {
            let mut url = settings.base_url.clone();
            let base = url.path().trim_end_matches('/').to_owned();
            url.set_path(&format!("{base}/{path}"));
            url
        };
        Ok(Self {
            name: format!("openai({})", settings.base_url),
            chat_uri: client::uri(&join("chat/completions"))?,
            embeddings_uri: client::uri(&join("embeddings"))?,
            health_uri: match &settings.health_path {
                Some(path) => {
                    let mut url = settings.base_url.clone();
                    url.set_path(path);
                    url.set_query(None);
                    client::uri(&url)?
                }
                None => client::uri(&join("models"))?,
            },
            transcriptions_url: join("audio/transcriptions"),
            translations_url: join("audio/translations"),
            settings,
            upstream,
            uploads,
        })
    }

    /// The upstream's key, and the trace headers when traces are recorded.
    fn authorize(&self, mut builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut trace = Vec::new();
        omnigate_backend::trace_context::inject(|name, value| trace.push((name, value)));
        for (name, value) in trace {
            builder = builder.header(name, value);
        }
        match &self.settings.api_key {
            Some(key) => builder.bearer_auth(key.expose_secret()),
            None => builder,
        }
    }

    /// Makes the request's body (`body`: encoding media may wait for the blocking pool), sends
    /// it and reads the whole answer, all within the deployment's timeout, as
    /// [`Backend::call_timeout`] promises.
    async fn call(
        &self,
        method: http::Method,
        uri: &http::Uri,
        body: impl Future<Output = Result<Option<Vec<u8>>, BackendError>>,
    ) -> Result<bytes::Bytes, BackendError> {
        self.within_timeout(async {
            let body = body.await?;
            let response = self
                .upstream
                .send(method, uri, body, client::Accept::Json)
                .await?;
            let response = errors::check_status(response).await?;
            client::read_body(response).await
        })
        .await
    }

    /// `work`, given up after the deployment's timeout.
    async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let timeout = self.settings.timeout;
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| BackendError::Timeout(timeout))?
    }

    /// A multipart upload through reqwest, read as JSON (the caller bounds its time).
    async fn upload_json<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<T, BackendError> {
        let timeout = self.settings.timeout;
        let response = builder
            .send()
            .await
            .map_err(|e| errors::from_reqwest(&e, timeout))?;
        let response = errors::check_reqwest_status(response).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| errors::from_reqwest(&e, timeout))?;
        parse_json(&bytes)
    }
}

/// An upstream answer relayed as written (see [`RelayedJson`]), once it is known to be the
/// expected object.
pub(crate) fn relay<T>(text: bytes::Bytes, kind: WireKind) -> Result<Answer<T>, BackendError> {
    match RelayedJson::parse(text, kind) {
        Ok(json) => Ok(Answer::Relayed(json)),
        // Servers report some failures as an error object with a 200 (mid-stream always).
        Err(RelayError::ErrorObject(text)) => Err(BackendError::Upstream {
            status: 500,
            message: errors::parse_error_body(&text)
                .0
                .unwrap_or_else(|| "the upstream answered with an error object".to_owned()),
        }),
        Err(RelayError::Malformed(why)) => Err(BackendError::BadResponse(format!(
            "upstream answer is not the expected JSON: {why}"
        ))),
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BackendError> {
    serde_json::from_slice::<T>(bytes).map_err(|e| {
        BackendError::BadResponse(format!("upstream answer is not the expected JSON: {e}"))
    })
}

#[async_trait]
impl Backend for OpenAiBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.settings.capabilities.clone()
    }

    fn connections(&self) -> Option<omnigate_backend::Connections> {
        Some(self.upstream.connections())
    }

    /// `call` bounds the request and the whole body read with the deployment's `timeout`
    /// (encoding the request comes before it: local work, not a wait).
    fn call_timeout(&self) -> Option<Duration> {
        Some(self.settings.timeout)
    }

    async fn health(&self) -> Result<(), BackendError> {
        let body = self
            .call(http::Method::GET, &self.health_uri, async { Ok(None) })
            .await?;
        if self.settings.health_path.is_some() {
            // The server's own health route: its status is the answer.
            return Ok(());
        }
        parse_json::<serde_json::Value>(&body).map(|_| ())
    }

    async fn chat(&self, request: ChatRequest) -> Result<Answer<ChatResponse>, BackendError> {
        self.ensure_serves(Task::Chat)?;
        let body = async { encode_chat(request, false).await.map(Some) };
        let answer = self.call(http::Method::POST, &self.chat_uri, body).await?;
        relay(answer, WireKind::ChatCompletion)
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, BackendError> {
        self.ensure_serves(Task::Chat)?;
        let body = encode_chat(request, true).await?;
        let timeout = self.settings.timeout;
        let send = self.upstream.send(
            http::Method::POST,
            &self.chat_uri,
            Some(body),
            client::Accept::EventStream,
        );
        let response = tokio::time::timeout(timeout, send)
            .await
            .map_err(|_| BackendError::Timeout(timeout))??;
        let response = errors::check_status(response).await?;
        Ok(stream::chat_chunks(response, timeout))
    }

    async fn embeddings(
        &self,
        request: EmbeddingsRequest,
    ) -> Result<Answer<EmbeddingsResponse>, BackendError> {
        self.ensure_serves(Task::Embeddings)?;
        let body = wire::embeddings_body(&request)?;
        let answer = self
            .call(http::Method::POST, &self.embeddings_uri, async {
                Ok(Some(body))
            })
            .await?;
        relay(answer, WireKind::Embeddings)
    }

    async fn transcribe(
        &self,
        request: TranscriptionRequest,
    ) -> Result<TranscriptionResponse, BackendError> {
        self.ensure_serves(Task::Transcription)?;
        let url = if request.translate {
            &self.translations_url
        } else {
            &self.transcriptions_url
        };
        let duration = request.audio.duration_secs();
        let answer: wire::VerboseTranscript = self
            .within_timeout(async {
                // WAV and multipart assembly of up to an hour of sound: off the async executor.
                let form = tokio::task::spawn_blocking(move || wire::transcription_form(&request))
                    .await
                    .map_err(|e| {
                        BackendError::Internal(format!("encoding the upload stopped: {e}"))
                    })??;
                let builder = self.authorize(self.uploads.post(url.clone()).multipart(form));
                self.upload_json(builder).await
            })
            .await?;
        Ok(answer.into_response(duration))
    }
}

/// The JSON body of a chat request. One carrying media (pictures and sound, base64-encoded:
/// megabytes) is encoded on the blocking pool, so the async executor keeps serving; text alone
/// is encoded in place.
async fn encode_chat(request: ChatRequest, stream: bool) -> Result<Vec<u8>, BackendError> {
    if !wire::carries_media(&request) {
        return wire::chat_body(&request, stream);
    }
    tokio::task::spawn_blocking(move || wire::chat_body(&request, stream))
        .await
        .map_err(|e| BackendError::Internal(format!("encoding the chat request stopped: {e}")))?
}

impl OpenAiBackend {
    fn ensure_serves(&self, task: Task) -> Result<(), BackendError> {
        if self.settings.capabilities.serves(task) {
            Ok(())
        } else {
            Err(BackendError::Unsupported(task))
        }
    }
}
