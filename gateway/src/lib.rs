//! omnigate: a multimodal model-serving gateway. One OpenAI-compatible HTTP front door;
//! authentication, limits and media normalization at the edge; requests routed to pluggable
//! backends behind one trait.
//!
//! A request's path through the code, one file or folder per arrow:
//! `app.rs` (the layers: request id, tracing, body limit, `layers/error_log.rs`,
//! `layers/overhead.rs`, `layers/auth.rs`, `layers/shed.rs`)
//! → `routes/*.rs` (one file per route group) → `extract.rs` (JSON into the API types)
//! → `media/` (media parts fetched, decoded and shaped to the model's contract)
//! → `registry.rs` (the model, and a deployment of it)
//! → the `Backend` trait (`omnigate-backend`; deployments built by `omnigate-backend-factory`)
//! → `respond/` (JSON, server-sent events, transcripts) → `error.rs` (every failure, one status
//! each). `state.rs` builds it all from the config at startup; `server.rs` serves it.
//! `.ci/import-cycles gateway/src` checks that no two files import each other in a circle.

pub mod app;
pub mod assemble;
pub mod cli;
pub mod dispatch;
pub mod error;
pub mod exchange;
pub mod extract;
pub mod layers;
pub mod media;
pub mod metrics;
pub mod probes;
pub mod registry;
pub mod reload;
pub mod respond;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod tenancy;
pub mod worker;

pub use app::app;
pub use error::ApiError;
pub use server::{Server, shutdown_signal};
pub use state::{AppState, Settings};
