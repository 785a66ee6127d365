//! Tower layers specific to omnigate, one file each (standard ones — tracing, body limits, panic
//! catching — come from tower-http and axum and are composed in `app.rs`).

pub mod access;
pub mod auth;
pub mod error_log;
pub mod overhead;
pub mod request_id;
pub mod shed;
