//! Tower layers specific to omnigate (standard ones — request ids, tracing, body limits — come
//! from tower-http and axum and are composed in `app.rs`).

pub mod auth;
pub mod overhead;
pub mod shed;
