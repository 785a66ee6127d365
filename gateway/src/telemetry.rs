//! Logs and traces. Logs: `RUST_LOG` filters (default `info`), text or JSON lines on stderr.
//! Traces: OpenTelemetry spans exported over OTLP when `[telemetry]` or the `OTEL_*` variables
//! ask for them (`omnigate_config::TelemetryConfig`), off by default.
//!
//! With traces off, no OpenTelemetry layer is installed at all: the subscriber is the one the
//! gateway always had, the per-stage spans (`debug` level, below any default filter) are never
//! created, and the only trace of tracing on the request path is one relaxed atomic load in
//! [`request_span`]. With traces on, a second layer, with its own filter, takes the gateway's
//! spans (`debug` and up from `omnigate*` targets; none below a request whose trace is not
//! sampled) and its warnings and errors as span events (`telemetry/filter.rs`); `RUST_LOG`
//! still decides what is logged.

mod context;
mod export;
mod filter;
mod request_span;
mod switch;

pub use request_span::{RecordResponse, request_span};

use omnigate_config::{LogFormat, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;
use switch::traces_on;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Installs the global subscriber, logs only (workers and one-shot commands). Safe to call once
/// per process.
pub fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(err) = result {
        eprintln!("logging already initialised: {err}");
    }
}

fn log_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Traces being exported. [`Traces::shutdown`] sends what is still buffered; call it before the
/// process exits.
pub struct Traces {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
    runtime: export::ExportRuntime,
}

impl Traces {
    /// Flushes the spans still buffered (within the exporter's timeout) and stops exporting.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("traces: the last spans may not have been exported: {err}");
        }
        self.runtime.stop();
    }
}

/// Installs the global subscriber for `omnigate serve`: logs, plus traces when `telemetry`
/// and the environment ask for them (then the returned [`Traces`] must be shut down at exit).
/// An error (a bad `OTEL_*` value, an exporter that cannot be built) names its cause.
pub fn init_serving(
    format: LogFormat,
    telemetry: &TelemetryConfig,
) -> Result<Option<Traces>, String> {
    let export = telemetry
        .resolve(&|name| std::env::var(name).ok())
        .map_err(|e| e.to_string())?;
    let Some(export) = export else {
        init(format);
        return Ok(None);
    };
    let (provider, runtime) = export::provider(&export)?;
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("omnigate"))
        // Each of these adds attributes or clock reads to every span; none says more about a
        // request than its span names and fields do.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        // Parents come from tracing's own span stack (and outgoing context from
        // `Span::context`), so OpenTelemetry's thread-local context is never swapped per poll.
        .with_context_activation(false)
        .with_filter(filter::gateway_spans());
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    Registry::default()
        .with(logs.with_filter(log_filter()))
        .with(spans)
        // Outermost, so what it refuses is refused for every layer (see filter.rs).
        .with(filter::SkipUnsampled)
        .try_init()
        .map_err(|e| format!("logging already initialised: {e}"))?;
    switch::turn_on();
    omnigate_backend::trace_context::install(context::inject_current);
    tracing::info!(
        endpoint = %export.endpoint,
        protocol = ?export.protocol,
        sampling_ratio = export.sampling.ratio,
        parent_based = export.sampling.parent_based,
        service = %export.service_name,
        "exporting traces over OTLP"
    );
    Ok(Some(Traces { provider, runtime }))
}

/// The trace the current span belongs to, as 32 lowercase hex digits, when traces are exported
/// and this one is sampled (so the id finds a trace in the collector); `None` otherwise, at
/// the cost of one atomic load when traces are off.
pub fn current_trace_id() -> Option<String> {
    if !traces_on() {
        return None;
    }
    context::sampled_trace_id()
}
