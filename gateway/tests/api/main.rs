//! Black-box tests of the real server: each starts omnigate on a loopback port (port 0) in front
//! of a real HTTP upstream (the testkit's fake OpenAI server) and calls it over HTTP.
//! One test binary with modules, so the suite links once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
#[path = "../openai_schemas/answers.rs"]
mod schema_answers;

mod access_log;
mod audio;
mod bench_requests;
mod chat;
mod embeddings_models;
mod errors;
mod faults;
mod lifecycle;
mod media;
mod media_limits;
mod metrics;
mod metrics_dashboard;
mod openai_schemas;
mod openapi_spec;
mod ops;
mod python_sdk;
mod replicas;
mod routing;
mod streaming;
mod tenants;
mod tracing;
mod video;
