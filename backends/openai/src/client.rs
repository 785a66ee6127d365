//! The upstream HTTP client of the hot path: hyper's pooled client, with nothing between it and
//! the socket that a gateway does not need.
//!
//! reqwest (still used for the rare multipart upload) runs every request through a redirect
//! policy that re-parses the URL twice, a retry layer and its own URL→URI conversion: ~7 % of
//! the gateway's CPU per proxied request in a profile. Here the URIs are parsed once, at
//! startup, and a request is its head, its body and one pooled keep-alive connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use omnigate_backend::BackendError;
use secrecy::{ExposeSecret, SecretString};

use crate::counted::{Counting, Counts};
use crate::errors::root_cause;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const AGENT: HeaderValue =
    HeaderValue::from_static(concat!("omnigate/", env!("CARGO_PKG_VERSION")));

/// One deployment's connection pool (HTTP/1.1 keep-alive, or HTTP/2 where TLS ALPN offers it).
pub(crate) struct UpstreamClient {
    client: Client<HttpsConnector<Counting<HttpConnector>>, Full<Bytes>>,
    authorization: Option<HeaderValue>,
    /// The `host` header of a plain-HTTP upstream, made once (see [`host_header`]).
    host: Option<HeaderValue>,
    /// Its connections, open and opened (for `/metrics`).
    connections: Arc<Counts>,
}

/// What the response body should be.
#[derive(Clone, Copy)]
pub(crate) enum Accept {
    Json,
    EventStream,
}

impl UpstreamClient {
    /// A pool for the upstream at `base` (every URI sent through it has its authority).
    pub fn new(
        base: &Uri,
        api_key: Option<&SecretString>,
        connect_timeout: Duration,
    ) -> Result<Self, BackendError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let connections = Arc::new(Counts::default());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| {
                rustls_platform_verifier::BuilderVerifierExt::with_platform_verifier(builder)
            })
            .map_err(|e| BackendError::Internal(format!("cannot set up TLS: {e}")))?
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(Counting::new(http, Arc::clone(&connections)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let authorization = api_key
            .map(|key| HeaderValue::from_str(&format!("Bearer {}", key.expose_secret())))
            .transpose()
            .map_err(|_| {
                BackendError::Internal("the upstream API key is not a valid header".into())
            })?
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        Ok(Self {
            client,
            authorization,
            host: host_header(base),
            connections,
        })
    }

    /// Its connections now.
    pub fn connections(&self) -> omnigate_backend::Connections {
        self.connections.snapshot()
    }

    /// Sends one request; the answer's head, its body still to read.
    pub async fn send(
        &self,
        method: Method,
        uri: &Uri,
        body: Option<Vec<u8>>,
        accept: Accept,
    ) -> Result<Response<Incoming>, BackendError> {
        let mut request = Request::builder().method(method).uri(uri.clone());
        if let Some(headers) = request.headers_mut() {
            if let Some(host) = &self.host {
                headers.insert(HOST, host.clone());
            }
            headers.insert(USER_AGENT, AGENT);
            if body.is_some() {
                headers.insert(CONTENT_TYPE, JSON);
            }
            if let Accept::EventStream = accept {
                headers.insert(ACCEPT, EVENT_STREAM);
            }
            if let Some(authorization) = &self.authorization {
                headers.insert(AUTHORIZATION, authorization.clone());
            }
            // The try's span as the upstream's parent, when traces are recorded.
            omnigate_backend::trace_context::inject(|name, value| {
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.insert(name, value);
                }
            });
        }
        let body = body.map_or_else(Full::default, |bytes| Full::new(Bytes::from(bytes)));
        let request = request.body(body).map_err(|e| {
            BackendError::Internal(format!("cannot build the upstream request: {e}"))
        })?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| transport_error(&e))?;
        if omnigate_backend::trace_context::active() {
            // Onto the try's span (the router declares the field; elsewhere this is a no-op).
            tracing::Span::current().record(
                "http.response.status_code",
                i64::from(response.status().as_u16()),
            );
        }
        Ok(response)
    }
}

/// Reads a whole body (the deadline is the caller's).
pub(crate) async fn read_body(response: Response<Incoming>) -> Result<Bytes, BackendError> {
    response
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .map_err(|e| body_error(&e))
}

fn transport_error(err: &hyper_util::client::legacy::Error) -> BackendError {
    if err.is_connect() {
        BackendError::Unavailable(format!("cannot connect to upstream: {}", root_cause(err)))
    } else {
        BackendError::Unavailable(format!("upstream request failed: {}", root_cause(err)))
    }
}

/// A response body that broke off.
pub(crate) fn body_error(err: &hyper::Error) -> BackendError {
    BackendError::BadResponse(format!("upstream body broke off: {}", root_cause(err)))
}

/// The `host` header hyper's client would write for `uri` (its host, and its port unless it is
/// the scheme's default), made once here: the client formats and validates it on every request
/// that lacks one (~2,000 instructions of a relayed chat's ~95,000). Only for plain `http`, whose
/// connections are always HTTP/1.1; over TLS the connection may be HTTP/2, which names the
/// authority in its `:authority` pseudo-header instead, so hyper is left to decide there.
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
        return None;
    }
    let host = uri.host()?;
    let value = match uri.port_u16().filter(|port| *port != 80) {
        Some(port) => HeaderValue::from_str(&format!("{host}:{port}")),
        None => HeaderValue::from_str(host),
    };
    value.ok()
}

/// `url` as a URI, parsed once when the backend is built.
pub(crate) fn uri(url: &url::Url) -> Result<Uri, BackendError> {
    url.as_str()
        .parse()
        .map_err(|e| BackendError::Internal(format!("`{url}` is not a usable URI: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(uri: &str) -> Option<String> {
        host_header(&uri.parse().unwrap()).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn the_host_header_is_what_hypers_client_would_write() {
        assert_eq!(
            host("http://127.0.0.1:8000/v1").as_deref(),
            Some("127.0.0.1:8000")
        );
        assert_eq!(
            host("http://vllm.internal/v1").as_deref(),
            Some("vllm.internal")
        );
        assert_eq!(
            host("http://vllm.internal:80/v1").as_deref(),
            Some("vllm.internal")
        );
        assert_eq!(host("http://[::1]:9000/v1").as_deref(), Some("[::1]:9000"));
        // Over TLS the connection may be HTTP/2: hyper decides.
        assert_eq!(host("https://api.example.com/v1"), None);
    }
}
