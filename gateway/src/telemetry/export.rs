//! Spans leave the process: an OTLP exporter (gRPC through tonic, or HTTP/protobuf through
//! reqwest) behind OpenTelemetry's batch processor, with the sampler and resource the config
//! asked for.
//!
//! The batch processor runs on a thread of its own and drives each export with a plain
//! `block_on`, where tonic's and reqwest's clients would find no tokio runtime. So every export
//! runs on a small current-thread runtime on a second thread of our own ([`ExportRuntime`]),
//! apart from the gateway's: exporting never takes the gateway's workers, shutdown cannot wait
//! on a runtime that is not being driven, and both protocols work the same way.

use omnigate_config::{OtlpProtocol, TraceExport};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The thread whose runtime carries the exports, until it is stopped.
pub(crate) struct ExportRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ExportRuntime {
    fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the trace export runtime: {e}"))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("omnigate-otlp".to_owned())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| format!("cannot start the trace export thread: {e}"))?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the runtime (after the provider has flushed through it) and joins its thread.
    pub(crate) fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        self.halt();
    }
}

/// An exporter whose exports run on the [`ExportRuntime`].
#[derive(Debug)]
struct OnRuntime<E> {
    inner: Arc<E>,
    handle: tokio::runtime::Handle,
}

impl<E: SpanExporter + 'static> SpanExporter for OnRuntime<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let inner = Arc::clone(&self.inner);
        self.handle
            .spawn(async move { inner.export(batch).await })
            .await
            .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(format!("export task: {e}"))))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called once, while the provider is built and this is the only handle.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// The tracer provider for `export`, and the runtime its exports run on.
pub(crate) fn provider(export: &TraceExport) -> Result<(SdkTracerProvider, ExportRuntime), String> {
    let runtime = ExportRuntime::start()?;
    let exporter = {
        // tonic's channel spawns its connection task where it is built.
        let _entered = runtime.handle.enter();
        exporter(export)?
    };
    let exporter = OnRuntime {
        inner: Arc::new(exporter),
        handle: runtime.handle.clone(),
    };
    let sampling = export.sampling;
    let root = Sampler::TraceIdRatioBased(sampling.ratio);
    let sampler = if sampling.parent_based {
        Sampler::ParentBased(Box::new(root))
    } else {
        root
    };
    let resource = Resource::builder()
        .with_service_name(export.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build();
    Ok((provider, runtime))
}

fn exporter(export: &TraceExport) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let endpoint = export.endpoint.as_str();
    let built = match export.protocol {
        OtlpProtocol::Grpc => {
            let mut headers = http::HeaderMap::new();
            for (name, value) in &export.headers {
                let key = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("telemetry.headers.{name}: not a header name"))?;
                let mut value = http::HeaderValue::from_str(value.expose())
                    .map_err(|_| format!("telemetry.headers.{name}: not a valid header value"))?;
                value.set_sensitive(true);
                headers.insert(key, value);
            }
            let metadata =
                opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers);
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .with_metadata(metadata);
            if export.endpoint.scheme() == "https" {
                builder = builder.with_tls_config(
                    opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new()
                        .with_native_roots(),
                );
            }
            builder.build()
        }
        OtlpProtocol::Http => {
            let headers: HashMap<String, String> = export
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.expose().to_owned()))
                .collect();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint)
                .with_headers(headers)
                .build()
        }
    };
    built.map_err(|e| format!("cannot build the OTLP exporter for {endpoint}: {e}"))
}
