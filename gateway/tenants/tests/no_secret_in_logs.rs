//! No key secret reaches a log line, a refusal or an error's text. Its own test binary, so its
//! subscriber is the process's global one: a thread-scoped subscriber races the other tests'
//! threads over tracing's per-callsite interest cache.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use omnigate_tenants::gatekeeper::{Settings, StorePolicy, Used};
use omnigate_tenants::key::{KeyRecord, KeySource};
use omnigate_tenants::{Charge, Gatekeeper, Limits, MemoryStore, Prices, SecretHash};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Collects every log line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs_or_an_error() {
    const SECRET: &str = "sk-og-TOPSECRETVALUE";
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let key = KeyRecord {
        id: "k".into(),
        name: "k".into(),
        team: None,
        models: Vec::new(),
        limits: Limits {
            requests_per_minute: Some(1),
            ..Limits::default()
        },
        budget: None,
        metadata: Default::default(),
        expires_at: None,
        disabled: false,
        secret_hash: SecretHash::of(SECRET),
        secret_hint: String::new(),
        created_at: 0,
        source: KeySource::Config,
    };
    let gate = Gatekeeper::new(
        Arc::new(MemoryStore::new()),
        Settings {
            config_keys: vec![key],
            teams: HashMap::new(),
            prices: HashMap::from([("m".to_owned(), Prices::default())]),
            policy: StorePolicy::FailOpen,
            store_timeout: Duration::from_millis(200),
            key_cache: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            quota_lease: None,
        },
    );
    let principal = gate.authenticate(SECRET).await.unwrap();
    let ticket = gate
        .admit(&principal, "m", Charge::default())
        .await
        .unwrap();
    gate.settle(
        ticket,
        Used {
            prompt_tokens: 10,
            tokens_reported: true,
            ..Used::default()
        },
    );
    gate.flush().await;
    let refusal = gate
        .admit(&principal, "m", Charge::default())
        .await
        .unwrap_err();
    let mut texts = vec![format!("{refusal:?}"), format!("{principal:?}")];
    for wrong in ["sk-og-TOPSECRETVALU", "sk-og-TOPSECRETVALUEX"] {
        texts.push(gate.authenticate(wrong).await.unwrap_err().to_string());
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("usage"), "the usage line was logged: {logs}");
    for text in texts.iter().chain([&logs]) {
        assert!(!text.contains("TOPSECRET"), "a secret leaked: {text}");
    }
}
