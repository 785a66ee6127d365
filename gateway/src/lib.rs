//! omnigate: a multimodal model-serving gateway. One OpenAI-compatible HTTP front door;
//! authentication, limits and media normalization at the edge; requests routed to pluggable
//! backends behind one trait.
//!
//! A request's path through the code, one file per arrow:
//! `app.rs` (layers: request id, tracing, body limit, `layers/auth.rs`, `layers/shed.rs`)
//! → `routes/*.rs` (one file per route group) → `extract.rs` (JSON into API types)
//! → `media/` (media parts fetched, decoded and shaped to the model's contract) → `registry.rs` (pick a deployment)
//! → the `Backend` trait (`omnigate-backend`) → `sse.rs` or JSON → `error.rs` for every failure.

pub mod app;
pub mod backends;
pub mod cli;
pub mod embedded;
pub mod error;
pub mod extract;
pub mod layers;
pub mod media;
pub mod metrics;
pub mod registry;
pub mod routes;
pub mod server;
pub mod sse;
pub mod state;
pub mod telemetry;
pub mod transcript;
pub mod transcript_sse;

pub use app::app;
pub use error::ApiError;
pub use server::{Server, shutdown_signal};
pub use state::{AppState, Settings};
