//! The embedded default models over HTTP: one gateway, started exactly as a bare `omnigate
//! serve` starts (no models configured → the embedded defaults), with the real weights that
//! `.ci/fetch-models` put in the cache. One server for every test in this binary: loading
//! the models once keeps the suite fast.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod asr;
mod embeddings;
mod health;
mod ocr;
mod openai_schemas;
mod python_sdk;
#[path = "../openai_schemas/answers.rs"]
mod schema_answers;
mod vad;

use std::net::SocketAddr;
use std::sync::OnceLock;

use omnigate::Server;
use serde_json::Value;

/// The shared gateway's address; started on first use on its own runtime thread.
pub fn gateway() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| start("[server]\nbind = \"127.0.0.1:0\"\n"))
}

/// Starts a gateway from `toml` (plus the embedded defaults if it names no models) on a
/// background thread that serves until the test process exits.
pub fn start(toml: &str) -> SocketAddr {
    let mut config = omnigate_config::load_str(toml, "test config").unwrap();
    config.use_embedded_defaults_if_empty().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(&config).await.unwrap_or_else(|e| {
                panic!("starting the embedded models failed (run .ci/fetch-models first): {e}")
            });
            tx.send(server.local_addr().unwrap()).unwrap();
            server.run(std::future::pending()).await.unwrap();
        });
    });
    rx.recv().expect("the gateway thread died while starting")
}

/// POSTs JSON; returns the status and the parsed body.
pub async fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, json)
}

/// A file from a crate's folder in this workspace.
pub fn workspace_file(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// The chat answer's text.
pub fn content(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("no content in {body}"))
}
