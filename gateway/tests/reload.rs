//! Config reload over real HTTP: `POST /admin/reload` under load (deployments added, removed and
//! re-weighted, a model added and removed, one bad config) loses no request; a bad config is
//! refused naming the key and the old one keeps serving; unchanged deployments keep their
//! running backends; `SIGHUP` reloads the real binary. A test binary of its own: its 20 s of
//! load at c=32 would slow the timing-sensitive tests of the `api` binary running beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use omnigate::Server;
use omnigate::state::{AppState, ConfigSource};
use omnigate_testkit::FakeUpstream;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ADMIN: &str = "sk-admin-reload";
const KEY: &str = "sk-user-reload";

/// A deployment: its name, upstream base URL and weight.
type Deployment<'a> = (&'a str, &'a str, u32);

/// One reload of the load test: `m`'s deployments, whether `extra` is served, whether the
/// config is broken.
type Step<'a> = (&'a [Deployment<'a>], bool, bool);

/// A config serving model `m` from `deployments` (name, upstream base URL, weight), plus model
/// `extra` from the first of them when `extra` is set.
fn config(deployments: &[Deployment<'_>], extra: bool) -> String {
    let mut toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\napi_keys = [\"{KEY}\"]\nadmin_api_keys = [\"{ADMIN}\"]\n\n[models.m]\n"
    );
    for (name, url, weight) in deployments {
        toml += &format!(
            "[[models.m.deployments]]\nkind = \"openai\"\nname = \"{name}\"\nbase_url = \"{url}\"\nmodel = \"up\"\nweight = {weight}\n"
        );
    }
    if extra {
        let (_, url, _) = deployments[0];
        toml += &format!(
            "\n[models.extra]\n[[models.extra.deployments]]\nkind = \"openai\"\nbase_url = \"{url}\"\n"
        );
    }
    toml
}

struct Running {
    state: AppState,
    addr: std::net::SocketAddr,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(path: &Path) -> Running {
    let source = ConfigSource {
        path: Some(path.to_owned()),
        bind: None,
    };
    let config = omnigate::reload::read(&source).unwrap();
    let server = Server::bind(&config).await.unwrap();
    server.state().set_config_source(source);
    let (state, addr) = (server.state().clone(), server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        server
            .run(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Running {
        state,
        addr,
        client: reqwest::Client::new(),
        _stop: stop,
    }
}

impl Running {
    /// How many deployments the running config gives `model`.
    fn deployments_of(&self, model: &str) -> usize {
        self.state
            .registry()
            .get(model)
            .unwrap()
            .deployments()
            .len()
    }

    async fn reload(&self) -> (u16, Value) {
        let response = self
            .client
            .post(format!("http://{}/admin/reload", self.addr))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn chat(&self, model: &str) -> u16 {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let response = self
            .client
            .post(format!("http://{}/v1/chat/completions", self.addr))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }
}

fn write(path: &Path, toml: &str) {
    // Written beside and renamed, so a reload never reads half a file.
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, toml).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn temp_config() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omnigate.toml");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_lose_no_request() {
    let (a, b, c) = (
        FakeUpstream::start().await,
        FakeUpstream::start().await,
        FakeUpstream::start().await,
    );
    let (a_url, b_url, c_url) = (a.base_url(), b.base_url(), c.base_url());
    let (_dir, path) = temp_config();
    write(&path, &config(&[("a", &a_url, 1)], false));
    let gateway = Arc::new(start(&path).await);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..32)
        .map(|_| {
            let (gateway, stop, ok, failed) = (
                Arc::clone(&gateway),
                Arc::clone(&stop),
                Arc::clone(&ok),
                Arc::clone(&failed),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match gateway.chat("m").await {
                        200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // Ten reloads over 20 s: (deployments of m, whether `extra` is served, a bad config).
    let steps: [Step<'_>; 10] = [
        (&[("a", &a_url, 1), ("b", &b_url, 1)], false, false),
        (&[("b", &b_url, 1)], true, false),
        (&[("b", &b_url, 3), ("c", &c_url, 1)], true, false),
        (&[("b", &b_url, 3), ("c", &c_url, 1)], true, true),
        (&[("a", &a_url, 1), ("c", &c_url, 1)], false, false),
        (
            &[("a", &a_url, 2), ("b", &b_url, 1), ("c", &c_url, 1)],
            false,
            false,
        ),
        (&[("c", &c_url, 1)], true, false),
        (&[("a", &a_url, 1), ("c", &c_url, 1)], true, false),
        (&[("b", &b_url, 1), ("c", &c_url, 5)], false, false),
        (&[("c", &c_url, 1)], false, false),
    ];
    let started = Instant::now();
    for (i, (deployments, extra, bad)) in steps.iter().enumerate() {
        tokio::time::sleep_until((started + Duration::from_secs(2 * i as u64 + 2)).into()).await;
        let mut toml = config(deployments, *extra);
        if *bad {
            toml += "\n[models.broken]\n[[models.broken.deployments]]\nkind = \"openai\"\nbase_url = \"not a url\"\n";
        }
        write(&path, &toml);
        let (status, answer) = gateway.reload().await;
        if *bad {
            assert_eq!(status, 400, "{answer}");
            assert_eq!(answer["error"]["code"], "invalid_config");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains("models.broken"), "{message}");
        } else {
            assert_eq!(status, 200, "step {i}: {answer}");
            assert_eq!(answer["object"], "config.reload");
        }
        let extra_status = gateway.chat("extra").await;
        let extra_served = if *bad { steps[i - 1].1 } else { *extra };
        assert_eq!(
            extra_status,
            if extra_served { 200 } else { 404 },
            "step {i}"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    assert!(ok > 1000, "the load ran: {ok} requests");

    // The last config serves m from c alone: nothing more reaches a or b.
    let (a_before, b_before) = (a.request_count(), b.request_count());
    for _ in 0..20 {
        assert_eq!(gateway.chat("m").await, 200);
    }
    assert_eq!((a.request_count(), b.request_count()), (a_before, b_before));
    assert_eq!(gateway.deployments_of("m"), 1);
}

#[tokio::test]
async fn unchanged_deployments_keep_their_backends_and_a_bad_config_changes_nothing() {
    let (a, b) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let (a_url, b_url) = (a.base_url(), b.base_url());
    let (_dir, path) = temp_config();
    write(&path, &config(&[("a", &a_url, 1)], false));
    let gateway = start(&path).await;
    let backend_of = |gateway: &Running, name: &str| {
        let registry = gateway.state.registry();
        let model = registry.get("m").unwrap();
        let deployment = model.deployments().iter().find(|d| d.name == name).unwrap();
        Arc::clone(&deployment.backend)
    };
    let a_backend = backend_of(&gateway, "a");

    // b added, a re-weighted: a's backend (and its connection pool) is the same object.
    write(&path, &config(&[("a", &a_url, 4), ("b", &b_url, 1)], false));
    let (status, answer) = gateway.reload().await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["kept_deployments"], json!(["m/a"]));
    assert_eq!(answer["built_deployments"], json!(["m/b"]));
    assert!(Arc::ptr_eq(&a_backend, &backend_of(&gateway, "a")));

    // A config that does not parse: 400 naming the problem, the running one keeps serving.
    std::fs::write(&path, "[models.m\n").unwrap();
    let (status, answer) = gateway.reload().await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["type"], "invalid_request_error");
    assert_eq!(gateway.chat("m").await, 200);
    assert_eq!(gateway.deployments_of("m"), 2);

    // An unknown key is named.
    write(
        &path,
        &(config(&[("a", &a_url, 1)], false) + "colour = \"blue\"\n"),
    );
    let (status, answer) = gateway.reload().await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("colour"), "{message}");

    // A changed listener is reported as needing a restart, and the rest is taken.
    write(
        &path,
        &config(&[("a", &a_url, 1)], true).replace("127.0.0.1:0", "127.0.0.1:1"),
    );
    let (status, answer) = gateway.reload().await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["restart_required"], json!(["server.bind"]));
    assert_eq!(answer["added_models"], json!(["extra"]));
    assert_eq!(gateway.chat("extra").await, 200);

    // Only operators may reload.
    let response = gateway
        .client
        .post(format!("http://{}/admin/reload", gateway.addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn sighup_reloads_the_running_binary() {
    let upstream = FakeUpstream::start().await;
    let (_dir, path) = temp_config();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    write(&path, &config(&[("a", &upstream.base_url(), 1)], false));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_omnigate"))
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let models = |client: reqwest::Client| async move {
        let response = client
            .get(format!("http://127.0.0.1:{port}/v1/models"))
            .bearer_auth(KEY)
            .send()
            .await
            .ok()?;
        let body: Value = response.json().await.ok()?;
        let names: Vec<String> = body["data"]
            .as_array()?
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect();
        Some(names)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while models(client.clone()).await.is_none() {
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    write(&path, &config(&[("a", &upstream.base_url(), 1)], true));
    let hangup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hangup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names = models(client.clone()).await.unwrap_or_default();
        if names.contains(&"extra".to_owned()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_watched_config_file_is_reloaded_when_it_changes() {
    let upstream = FakeUpstream::start().await;
    let (_dir, path) = temp_config();
    write(&path, &config(&[("a", &upstream.base_url(), 1)], false));
    let gateway = start(&path).await;
    omnigate::reload::watch(
        gateway.state.clone(),
        path.clone(),
        Duration::from_millis(50),
    );
    assert_eq!(gateway.chat("extra").await, 404);
    write(&path, &config(&[("a", &upstream.base_url(), 1)], true));
    let deadline = Instant::now() + Duration::from_secs(10);
    while gateway.chat("extra").await != 200 {
        assert!(Instant::now() < deadline, "the change was not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
