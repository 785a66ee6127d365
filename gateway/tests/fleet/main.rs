//! The worker fleet end to end: a real nats-server, real `omnigate worker` processes, and the
//! gateway in front. Answers through the fleet match the same model served in-process; streams
//! arrive chunk by chunk; workers killed or drained lose no request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use futures::StreamExt;
use omnigate::Server;
use omnigate_testkit::{FakeUpstream, NatsServer};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A worker process, killed when dropped.
struct Worker {
    child: Child,
    _config: tempfile::NamedTempFile,
}

impl Worker {
    /// `omnigate worker` with `models` (TOML `[models...]` tables) dialing `nats`.
    fn start(nats: &NatsServer, id: &str, models: &str) -> Self {
        let toml = format!(
            "[worker]\nnats_url = \"{}\"\nid = \"{id}\"\nheartbeat_interval_secs = 0.5\nmax_in_flight = 16\n{models}",
            nats.url()
        );
        let mut config = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut config, toml.as_bytes()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .args(["worker", "--config"])
            .arg(config.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Self {
            child,
            _config: config,
        }
    }

    /// SIGKILL: the machine vanished.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: drain, then leave; waits for it to exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < give_up,
                "the worker did not drain and exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MINILM: &str = "[models.minilm]\ntasks = [\"embeddings\"]\n[[models.minilm.deployments]]\nkind = \"embedded\"\narchitecture = \"minilm\"\n";

/// A gateway from `toml`, on a thread of its own that serves until the test process exits.
fn gateway(toml: &str) -> SocketAddr {
    let config = omnigate_config::load_str(toml, "test config").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(&config).await.unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            server.run(std::future::pending()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// A `fleet` deployment of `model` whose tries fail after `timeout_secs` without an answer.
fn fleet_deployment(model: &str, nats: &NatsServer, timeout_secs: f64, extra: &str) -> String {
    format!(
        "[[models.{model}.deployments]]\nkind = \"fleet\"\nnats_url = \"{}\"\ntimeout_secs = {timeout_secs}\n{extra}",
        nats.url()
    )
}

async fn post(addr: SocketAddr, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Waits until the gateway's fleet view shows `n` workers serving `model` (bounded).
async fn wait_for_workers(addr: SocketAddr, model: &str, n: usize) -> Value {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let view: Value = reqwest::get(format!("http://{addr}/v1/fleet"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let serving = view["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["models"].as_array().unwrap().iter().any(|m| m == model))
            .filter(|w| w["draining"] == false)
            .count();
        if serving >= n {
            return view;
        }
        assert!(Instant::now() < give_up, "workers never showed up: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn vector(body: &Value) -> Vec<f64> {
    body["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_through_the_fleet_match_the_model_in_process() {
    let nats = NatsServer::start();
    let _a = Worker::start(&nats, "edge-a", MINILM);
    let _b = Worker::start(&nats, "edge-b", MINILM);
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[models.fleet-minilm]\ntasks = [\"embeddings\"]\n{}\n{}",
        fleet_deployment("fleet-minilm", &nats, 3.0, "model = \"minilm\"\n"),
        MINILM
    );
    let addr = gateway(&toml);
    let view = wait_for_workers(addr, "minilm", 2).await;
    assert_eq!(view["data"][0]["device"], "cpu", "{view}");
    let input = json!({"input": ["the quick brown fox", "a fleet of idle machines"]});
    let mut through_fleet = input.clone();
    through_fleet["model"] = json!("fleet-minilm");
    let mut in_process = input;
    in_process["model"] = json!("minilm");
    for _ in 0..4 {
        let fleet = post(addr, "/v1/embeddings", &through_fleet).await;
        assert_eq!(fleet.status(), 200);
        let fleet: Value = fleet.json().await.unwrap();
        let local: Value = post(addr, "/v1/embeddings", &in_process)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(fleet["model"], "fleet-minilm");
        let (a, b) = (vector(&fleet), vector(&local));
        assert_eq!(a.len(), 384);
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6),
            "the fleet's vector is the in-process one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_from_a_worker_arrives_chunk_by_chunk() {
    let nats = NatsServer::start();
    let upstream = FakeUpstream::start().await;
    upstream.hold_streams_after(1);
    let models = format!(
        "[models.llm]\n[[models.llm.deployments]]\nkind = \"openai\"\nbase_url = \"{}\"\n",
        upstream.base_url()
    );
    let _worker = Worker::start(&nats, "edge-llm", &models);
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[models.llm]\n{}",
        fleet_deployment("llm", &nats, 3.0, "")
    );
    let addr = gateway(&toml);
    wait_for_workers(addr, "llm", 1).await;
    let body =
        json!({"model": "llm", "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    let response = post(addr, "/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    // The upstream holds after its first event: the client has it before the rest exists.
    while !text.contains("chat.completion.chunk") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the first event arrives while the upstream holds the rest")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!text.contains("[DONE]"));
    upstream.release_stream();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(text.matches("chat.completion.chunk").count() >= 3, "{text}");
    assert!(text.contains("\"model\":\"llm\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_or_drained_lose_no_request() {
    let nats = NatsServer::start();
    let upstream = FakeUpstream::start().await;
    upstream.set_mode(omnigate_testkit::Mode::Delay(Duration::from_millis(50)));
    let models = format!(
        "[models.llm]\n[[models.llm.deployments]]\nkind = \"openai\"\nbase_url = \"{}\"\n",
        upstream.base_url()
    );
    let first = Worker::start(&nats, "edge-1", &models);
    let second = Worker::start(&nats, "edge-2", &models);
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[models.llm]\nrouting = {{ max_attempts = 5, per_try_timeout_secs = 1.5 }}\n{}",
        fleet_deployment("llm", &nats, 1.0, "")
    );
    let addr = gateway(&toml);
    wait_for_workers(addr, "llm", 2).await;
    let body = json!({"model": "llm", "messages": [{"role": "user", "content": "Hi"}]});
    let load = |n: usize| {
        let body = body.clone();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in 0..n {
                let response = post(addr, "/v1/chat/completions", &body).await;
                if response.status() != 200 {
                    failures.push(response.text().await.unwrap());
                }
            }
            failures
        })
    };
    // Eight clients; a worker vanishes mid-run; a new one joins.
    let clients: Vec<_> = (0..8).map(|_| load(15)).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();
    let third = Worker::start(&nats, "edge-3", &models);
    for client in clients {
        let failures = client.await.unwrap();
        assert!(failures.is_empty(), "{failures:?}");
    }
    wait_for_workers(addr, "llm", 2).await;
    // Drain: requests in flight on the worker told to leave are answered.
    let clients: Vec<_> = (0..8).map(|_| load(10)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = second.terminate();
    assert!(status.success(), "a drained worker exits cleanly: {status}");
    for client in clients {
        let failures = client.await.unwrap();
        assert!(failures.is_empty(), "{failures:?}");
    }
    drop(third);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "omnigate_fleet_requests_total",
        "omnigate_fleet_workers_online",
        "omnigate_fleet_worker_served{worker=\"edge-3\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}
