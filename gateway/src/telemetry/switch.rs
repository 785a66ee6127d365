//! Whether spans are being exported: set once at startup, read on every request (one relaxed
//! load), so the path with traces off pays nothing else.

use std::sync::atomic::{AtomicBool, Ordering};

static TRACES: AtomicBool = AtomicBool::new(false);

/// Spans are exported from now on (called once the trace layer is installed).
pub(super) fn turn_on() {
    TRACES.store(true, Ordering::Relaxed);
}

#[inline]
pub(super) fn traces_on() -> bool {
    TRACES.load(Ordering::Relaxed)
}
