//! Health that tells the truth: a real MiniLM deployment whose worker thread is killed (or
//! wedged) turns `/ready` to 503, and its requests get a clear 503 at once, not a hang. Each test
//! starts its own model, so the shared gateway's models stay alive.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use omnigate::media::{MediaContract, Normalizer};
use omnigate::registry::{Deployment, ModelEntry, ModelSpec, Registry};
use omnigate::{AppState, Server, Settings};
use omnigate_backend::{Modality, Task};
use omnigate_backend_burn::{
    Architecture, BatchLimits, ComputeDevice, EmbeddedBackend, EmbeddedSettings, Fault,
};
use omnigate_router::{Endpoint, Pool, RoutingPolicy};
use serde_json::{Value, json};

/// A gateway serving one MiniLM model `minilm` (one try per request) on a port of its own;
/// returns its address and the backend, to hurt.
async fn minilm_gateway(wedged_after: Duration) -> (SocketAddr, Arc<EmbeddedBackend>) {
    let fetcher =
        omnigate_backend_factory::weights_fetcher(&omnigate_config::WeightsConfig::default())
            .unwrap();
    let arch = Architecture::MiniLm;
    let dir = fetcher
        .ensure(&arch.default_source().unwrap(), arch.files())
        .await
        .expect("MiniLM weights (run .ci/fetch-models first)");
    let settings = EmbeddedSettings {
        architecture: arch,
        model_dir: dir,
        companion_dir: None,
        device: ComputeDevice::Cpu,
        limits: BatchLimits {
            wedged_after,
            ..BatchLimits::default()
        },
    };
    let backend = Arc::new(EmbeddedBackend::start("minilm", settings).await.unwrap());
    let spec = ModelSpec {
        name: "minilm".to_owned(),
        tasks: BTreeSet::from([Task::Embeddings]),
        modalities: BTreeSet::from([Modality::Text]),
        media: MediaContract::default(),
        fallbacks: Vec::new(),
        context_window_fallbacks: Vec::new(),
    };
    let deployment = Deployment {
        backend: backend.clone(),
        upstream_model: "minilm".to_owned(),
        probe_interval: None,
        name: "0".to_owned(),
        name_header: None,
    };
    let mut policy = RoutingPolicy::default();
    policy.retry.max_attempts = 1;
    let pool = Pool::new(vec![Endpoint::new("0", 1, None)], policy);
    let mut registry = Registry::default();
    registry.insert(ModelEntry::new(spec, vec![deployment], pool));
    let normalizer = Normalizer::new(&omnigate_config::MediaConfig::default()).unwrap();
    let state = AppState::new(registry, Settings::default(), normalizer);
    let server = Server::bind_state(
        state,
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));
    (addr, backend)
}

async fn ready(addr: SocketAddr) -> (u16, Value) {
    let response = reqwest::get(format!("http://{addr}/ready")).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn embed(addr: SocketAddr) -> (u16, Value) {
    crate::post(
        addr,
        "/v1/embeddings",
        &json!({"model": "minilm", "input": "hello"}),
    )
    .await
}

#[tokio::test]
async fn a_killed_worker_turns_ready_503_and_its_requests_answer_503_at_once() {
    let (addr, backend) = minilm_gateway(Duration::from_secs(120)).await;
    assert_eq!(ready(addr).await.0, 200);
    assert_eq!(embed(addr).await.0, 200);

    backend.inject_fault(Fault::KillWorker);
    // The worker dies as soon as it reads the fault; the next request is answered 503.
    let (status, body) = embed(addr).await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = ready(addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["deployments"][0]["healthy"], false);
    assert!(
        body["deployments"][0]["error"]
            .as_str()
            .unwrap()
            .contains("stopped"),
        "{body}"
    );
    let started = Instant::now();
    let (status, body) = embed(addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a clear answer, not a hang"
    );
}

#[tokio::test]
async fn a_wedged_worker_is_reported_and_refuses_work_until_it_is_free_again() {
    let (addr, backend) = minilm_gateway(Duration::from_millis(200)).await;
    assert_eq!(ready(addr).await.0, 200);
    backend.inject_fault(Fault::Wedge(Duration::from_secs(4)));
    // This request wakes the worker, which hangs before its batch.
    let stuck = tokio::spawn(embed(addr));
    let mut status = 200;
    for _ in 0..100 {
        status = ready(addr).await.0;
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 503, "a wedged worker shows in /ready");
    let started = Instant::now();
    let (status, body) = embed(addr).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, not queued"
    );
    // The stuck request itself is answered once the worker is free again, and the worker is
    // healthy again right after.
    assert_eq!(stuck.await.unwrap().0, 200);
    let mut status = 503;
    for _ in 0..100 {
        status = ready(addr).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200, "healthy again once the batch ended");
}
