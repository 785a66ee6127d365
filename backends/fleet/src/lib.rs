//! Models served by fleets of worker machines over NATS.
//!
//! Workers dial out to NATS (no inbound port, no registry) and join one queue group per model
//! they serve; they come and go as they please. The gateway holds a [`FleetBackend`] per fleet
//! deployment: requests are normalized at the gateway as for any backend (decoded media shaped
//! to the model's contract), encoded to a compact binary form (MessagePack, see `wire.rs`, with
//! media as byte blobs), published to the model's subject, taken by one free worker, and
//! answered in the OpenAI JSON format, streaming included ([`protocol`] has the message-level
//! design). [`serve`] is the worker's side; [`FleetWatch`] is the gateway's view of the fleet,
//! fed by heartbeats.
//!
//! | side | module |
//! |---|---|
//! | subjects, model-name escaping | `subjects.rs` |
//! | messages between gateway and worker | `protocol.rs` |
//! | requests in binary / transcripts in JSON | `wire.rs`, `transcript.rs` |
//! | connecting, credentials, TLS, redaction | `nats.rs` |
//! | gateway: the backend / one attempt / streams | `client.rs`, `attempt.rs`, `stream.rs` |
//! | worker: intake and heartbeats / one request | `worker.rs`, `handler.rs` |
//! | gateway: the fleet view | `watch.rs` |
//! | metrics | `telemetry.rs` |
//!
//! Per request (one attempt): a small body is one round trip (offer out; `Taken`, the answer's
//! `Part`s and `End` back, all pipelined). A body over the server's `max_payload` adds one round
//! trip (the offer, then `Taken` names where the chunks go) and one more per eight chunks sent.
//!
//! Failure semantics, as the gateway's router sees them: no worker subscribed → `Unavailable`
//! at once (or `Overloaded` when live workers exist but all are at capacity); a worker that
//! vanishes → `Timeout` after the per-try timeout; a malformed, oversized or misnumbered answer
//! → `BadResponse`; a worker's own backend error → the same [`BackendError`](omnigate_backend::BackendError) variant. Each
//! attempt has its own inbox, unsubscribed when it ends, so a late answer is never delivered.
//!
//! Security: NATS is the trust boundary. Anyone allowed to publish on a fleet's subjects can
//! act as a worker; use NATS accounts and permissions to keep workers to their own subjects.
//! Frames are still checked one by one, so a confused or hostile worker can fail a request but
//! not crash the gateway or splice its bytes into another request's answer.

mod attempt;
mod client;
mod handler;
mod nats;
pub mod protocol;
mod stream;
pub mod subjects;
mod telemetry;
mod transcript;
mod watch;
mod wire;
mod worker;

pub use client::{FleetBackend, FleetSettings};
pub use nats::{Credentials, NatsSettings};
pub use watch::{FleetWatch, WorkerStatus};
pub use worker::{ServedModel, WorkerSettings, serve};

/// Why a worker or a fleet view could not run.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The settings cannot work (empty URL, bad subject prefix, unreadable certificate...).
    #[error("invalid fleet settings: {0}")]
    Settings(String),
    /// No NATS server could be reached or it refused us. Never contains a secret.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The server list, credentials redacted.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A NATS operation failed after connecting (the connection closed, say).
    #[error("NATS operation failed: {0}")]
    Nats(String),
}
