//! Credentials, TLS, and NATS being down.

use crate::helpers::*;
use omnigate_backend::echo::EchoBackend;
use omnigate_backend::{Backend, BackendError};
use omnigate_backend_fleet::{Credentials, FleetError, FleetWatch, NatsSettings};
use omnigate_testkit::NatsServer;
use std::time::{Duration, Instant};

fn with(url: &str, credentials: Credentials) -> NatsSettings {
    NatsSettings {
        credentials,
        ..nats(url)
    }
}

async fn round_trip(server: &NatsServer, credentials: Credentials) {
    let mut settings = worker_settings(&server.url(), "og", "w1", 2);
    settings.nats = with(&server.url(), credentials.clone());
    let mut worker = Worker::spawn(settings, vec![serving("m", EchoBackend::new())]);
    let backend = backend_with(
        with(&server.url(), credentials),
        "og",
        "m",
        echo_caps(),
        Duration::from_secs(5),
    )
    .await;
    healthy(&backend).await;
    let answer = backend.chat(hello("m", "authenticated")).await.unwrap();
    assert_eq!(text_of(answer), "echo: authenticated");
    worker.shut_down();
    worker.finished().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_and_tokens_authenticate() {
    let server = NatsServer::start_with(&["--user", "fleet", "--pass", "s3cret-pass"]);
    let good = Credentials::UserPassword {
        user: "fleet".into(),
        password: "s3cret-pass".to_owned().into(),
    };
    round_trip(&server, good).await;
    let wrong = Credentials::UserPassword {
        user: "fleet".into(),
        password: "wrong-pass-123".to_owned().into(),
    };
    let mut settings = worker_settings(&server.url(), "og", "w2", 1);
    settings.nats = with(&server.url(), wrong);
    let started = Instant::now();
    let err =
        omnigate_backend_fleet::serve(settings, vec![serving("m", EchoBackend::new())], async {})
            .await
            .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, FleetError::Connect { .. }), "{err}");
    assert!(!err.to_string().contains("wrong-pass-123"), "{err}");
    assert!(!format!("{err:?}").contains("wrong-pass-123"), "{err:?}");

    let server = NatsServer::start_with(&["--auth", "tok-abcdef"]);
    round_trip(&server, Credentials::Token("tok-abcdef".to_owned().into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_being_down_never_hangs() {
    let port = omnigate_testkit::redis_server::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    // A worker cannot start without NATS: it says so within its connect timeout.
    let started = Instant::now();
    let err = omnigate_backend_fleet::serve(
        worker_settings(&url, "og", "w1", 1),
        vec![serving("m", EchoBackend::new())],
        async {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, FleetError::Connect { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(4));
    // A gateway starts anyway and fails fast until NATS is there.
    let backend = backend(&url, "og", "m", Duration::from_secs(30)).await;
    let watch = FleetWatch::start(nats(&url), "og".into()).await.unwrap();
    let started = Instant::now();
    let err = backend.chat(hello("m", "anyone?")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(&err, BackendError::Unavailable(m) if m.contains("not connected")),
        "{err:?}"
    );
    assert!(backend.health().await.is_err());
    assert!(watch.workers().is_empty());
    // NATS comes up on that port: the gateway connects by itself.
    let server = NatsServer::start_on(port, &[]).expect("the port was taken meanwhile");
    let _worker = Worker::spawn(
        worker_settings(&server.url(), "og", "w1", 1),
        vec![serving("m", EchoBackend::new())],
    );
    healthy(&backend).await;
    assert_eq!(
        text_of(backend.chat(hello("m", "now")).await.unwrap()),
        "echo: now"
    );
    assert_eq!(
        seen(&watch, |w| w.id == "w1").await.models,
        vec!["m".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_against_a_plain_server_fails_cleanly() {
    let server = NatsServer::start();
    let mut settings = worker_settings(&server.url(), "og", "w1", 1);
    settings.nats.tls_required = true;
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(8),
        omnigate_backend_fleet::serve(settings, vec![serving("m", EchoBackend::new())], async {}),
    )
    .await
    .expect("connect must be bounded");
    assert!(
        matches!(result, Err(FleetError::Connect { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
