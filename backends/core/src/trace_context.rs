//! The trace a backend call belongs to, for backends that call out over the network: W3C
//! `traceparent` (and `tracestate`) headers for the upstream, so its spans join the gateway's
//! trace. The gateway installs the source once at startup when it records traces; backends call
//! [`inject`] and know nothing of OpenTelemetry. With no source installed (tracing off), a
//! call costs one atomic load.

use std::sync::OnceLock;

/// Writes the current trace's propagation headers through `add(name, value)`.
pub type Injector = fn(add: &mut dyn FnMut(&'static str, String));

static INJECTOR: OnceLock<Injector> = OnceLock::new();

/// Installs the source of trace headers. The first call wins (one tracer per process);
/// whether this one did is returned.
pub fn install(injector: Injector) -> bool {
    INJECTOR.set(injector).is_ok()
}

/// Whether traces are being recorded (a source is installed).
pub fn active() -> bool {
    INJECTOR.get().is_some()
}

/// Adds the headers of the trace the caller runs in (its current span), if traces are being
/// recorded.
pub fn inject(mut add: impl FnMut(&'static str, String)) {
    if let Some(injector) = INJECTOR.get() {
        injector(&mut add);
    }
}
