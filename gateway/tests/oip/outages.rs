//! A v2 server that is down when the gateway starts, then comes up, then crashes and comes
//! back: the gateway starts anyway, `/ready` follows the server, requests meanwhile get a 503
//! that says why, and the first ones after it is back are answered (the model's metadata read
//! again first).

use super::{flowers, gateway, post};
use omnigate_testkit::MlServer;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn ready(addr: SocketAddr) -> (u16, Value) {
    let response = reqwest::get(format!("http://{addr}/ready")).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Waits (bounded) until `/ready` answers `status`.
async fn wait_ready(addr: SocketAddr, status: u16) -> Value {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let (got, body) = ready(addr).await;
        if got == status {
            return body;
        }
        assert!(Instant::now() < give_up, "/ready stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn infer(addr: SocketAddr, model: &str) -> (u16, Value) {
    post(
        addr,
        &format!("/v2/models/{model}/infer"),
        &json!({"inputs": [flowers()]}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_at_start_then_crashing_and_coming_back_is_followed() {
    let mut server = MlServer::start();
    server.stop();
    let mut toml = "[server]\nbind = \"127.0.0.1:0\"\nreadiness_timeout_secs = 2.0\n".to_owned();
    for (model, url, protocol) in [
        ("iris", server.grpc_url(), "grpc"),
        ("iris-http", server.http_url(), "http"),
    ] {
        toml += &format!(
            "[models.{model}]\ntasks = [\"infer\"]\nrouting = {{ max_attempts = 1 }}\n[[models.{model}.deployments]]\nkind = \"oip\"\nurl = \"{url}\"\nprotocol = \"{protocol}\"\nmodel = \"iris\"\nconnect_timeout_secs = 0.5\n"
        );
    }
    let addr = gateway(&toml);
    let body = wait_ready(addr, 503).await;
    assert!(
        body.to_string().contains("oip("),
        "the failing backend is named: {body}"
    );

    let check_down = |(status, answer): (u16, Value)| {
        assert!(status == 503 || status == 502, "{status}: {answer}");
        assert!(
            answer["error"]["message"].is_string(),
            "an OpenAI envelope: {answer}"
        );
    };
    for model in ["iris", "iris-http"] {
        check_down(infer(addr, model).await);
    }

    server.restart();
    wait_ready(addr, 200).await;
    for model in ["iris", "iris-http"] {
        let (status, answer) = infer(addr, model).await;
        assert_eq!(status, 200, "{model} once the server is up: {answer}");
        assert_eq!(answer["outputs"][0]["data"], json!([0, 2]));
    }

    server.stop();
    for model in ["iris", "iris-http"] {
        check_down(infer(addr, model).await);
    }
    wait_ready(addr, 503).await;

    server.restart();
    wait_ready(addr, 200).await;
    for model in ["iris", "iris-http"] {
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, answer) = infer(addr, model).await;
            if status == 200 {
                assert_eq!(answer["outputs"][0]["data"], json!([0, 2]));
                break;
            }
            // The router may still be cooling the deployment down from the outage.
            assert!(
                Instant::now() < give_up,
                "{model} after the restart: {status} {answer}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
