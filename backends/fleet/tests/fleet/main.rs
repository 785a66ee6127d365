//! The fleet backend against a real `nats-server` (the testkit starts one per test) and workers
//! running in-process: the core conformance suite, streaming, failures and retries, draining,
//! large bodies, credentials (passwords, tokens, NKey seeds, `.creds` files, TLS with a private
//! CA, subject permissions), and hostile workers speaking raw NATS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod auth;
mod basics;
mod failures;
mod helpers;
mod hostile;
mod large;
mod secured;
