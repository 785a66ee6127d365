//! Load shedding and graceful shutdown.

use crate::common::{Gateway, chat_body, expect_error};
use omnigate_testkit::{FakeUpstream, Mode};
use std::time::Duration;

#[tokio::test]
async fn requests_over_the_concurrency_limit_are_shed_with_429() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start_with(&upstream, "max_concurrent_requests = 1").await;
    upstream.set_mode(Mode::Delay(Duration::from_millis(600)));
    let slow = {
        let client = gateway.client.clone();
        let url = gateway.url("/v1/chat/completions");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&chat_body("chat"))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // Let the first request take the only slot.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", chat_body("chat"))
            .await,
        429,
    )
    .await;
    assert_eq!(error["type"], "rate_limit_error");
    // Probes are never shed.
    assert_eq!(gateway.get("/health").await.status(), 200);
    assert_eq!(slow.await.unwrap(), 200);
    // The slot is free again.
    upstream.set_mode(Mode::Normal);
    assert_eq!(
        gateway
            .post_json("/v1/chat/completions", chat_body("chat"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    upstream.set_mode(Mode::Delay(Duration::from_millis(500)));
    let in_flight = {
        let client = gateway.client.clone();
        let url = gateway.url("/v1/chat/completions");
        tokio::spawn(async move { client.post(url).json(&chat_body("chat")).send().await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let addr = gateway.addr;
    let server = gateway.shutdown();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "the in-flight request completed");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server exits once idle")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

/// A GPU device this build has no backend for is refused at startup (and by `omnigate check`),
/// naming the key and the cargo feature, before any weights are fetched.
#[tokio::test]
async fn an_embedded_model_on_a_gpu_missing_from_the_build_is_refused_at_startup() {
    if cfg!(feature = "cuda") {
        return;
    }
    let toml = r#"
[weights]
cache_dir = "/nonexistent/omnigate-cache"
[models.embedder]
tasks = ["embeddings"]
[[models.embedder.deployments]]
kind = "embedded"
architecture = "minilm"
device = "cuda:1"
"#;
    let config = omnigate_config::load_str(toml, "test config").unwrap();
    let checked = omnigate_backend_factory::check_devices(&config).unwrap_err();
    let started = omnigate::server::Server::bind(&config).await;
    let Err(error) = started else {
        panic!("the gateway started on a device it cannot drive")
    };
    for message in [checked, error.to_string()] {
        assert!(
            message.contains("models.embedder.deployments[0].device"),
            "{message}"
        );
        assert!(message.contains("--features cuda"), "{message}");
    }
}

#[tokio::test]
async fn a_deployment_that_cannot_serve_what_its_model_declares_is_refused_at_startup() {
    // MiniLM makes embeddings; a model declaring chat on it would 422 every request. The refusal
    // comes before any weight is fetched (the cache folder does not exist).
    let toml = r#"
[weights]
cache_dir = "/nonexistent/omnigate-cache"
[models.talker]
tasks = ["chat"]
[[models.talker.deployments]]
kind = "embedded"
architecture = "minilm"
"#;
    let config = omnigate_config::load_str(toml, "test config").unwrap();
    let Err(error) = omnigate::server::Server::bind(&config).await else {
        panic!("the gateway started a model its backend cannot serve")
    };
    let message = error.to_string();
    assert!(message.contains("models.talker.tasks"), "{message}");
    assert!(message.contains("`chat`"), "{message}");
    assert!(message.contains("`embeddings`"), "{message}");
}
