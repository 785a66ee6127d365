//! A real Open Inference Protocol v2 server for tests: Seldon's MLServer (PyPI `mlserver`,
//! installed by `.ci/test` into a venv of its own and named by `OMNIGATE_TEST_MLSERVER`), on
//! free loopback ports for REST and gRPC, serving models this module writes:
//!
//! - `image-stats` (`pixel_values` FP32 `[-1, 3, 224, 224]`) and `image-stats-nhwc`
//!   (`[-1, 224, 224, 3]`): each channel's mean (`channel_mean`, FP64 `[n, 3]`) and four pixels
//!   per channel (`pixels`, FP32 `[n, 3, 4]`: (0, 0), (0, W-1), (H-1, 0), (H/2, W/3));
//! - `audio-stats` (`waveform` FP32 `[-1]`): the sound's length (`length`), first 8 samples
//!   (`head`) and sum (`total`);
//! - `embedder` (`text` BYTES `[-1]`): 8 numbers per text (`embedding`), by [`hash_vector`];
//! - `llm` (`text_input` BYTES `[1]` → `text_output`): the generate extension, answering
//!   `Hello from MLServer, you said: <last paragraph of the prompt>`, streamed word by word;
//! - `iris`: scikit-learn's logistic regression fitted on the iris data at startup
//!   (`measurements` FP64 `[-1, 4]` → `predict` INT64 `[-1, 1]`), through `mlserver-sklearn`.
//!
//! MLServer takes ~20 s to start, so a test binary shares one ([`MlServer::shared`]); tests that
//! stop and restart a server start their own ([`MlServer::start`]). A watchdog shell kills the
//! server when the test process ends, even one a static keeps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fixture: failing loudly is its job"
)]

use crate::local_server::free_port;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The environment variable naming the `mlserver` executable.
pub const MLSERVER_ENV: &str = "OMNIGATE_TEST_MLSERVER";

/// The custom runtimes (Python), written next to the models.
const RUNTIME: &str = include_str!("../mlserver/omnigate_test_models.py");

/// Fits the iris model (argument: where to write it).
const TRAIN_IRIS: &str = "import sys, joblib\n\
from sklearn.datasets import load_iris\n\
from sklearn.linear_model import LogisticRegression\n\
X, y = load_iris(return_X_y=True)\n\
joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), sys.argv[1])\n";

/// Runs MLServer, kills it when the test process (`$PARENT`) is gone or on SIGTERM, and then
/// removes its folder if asked (`$CLEANUP`).
const WATCHDOG: &str = r#"
"$MLSERVER" start "$DIR" >>"$DIR/mlserver.log" 2>&1 &
child=$!
trap 'kill -9 $child 2>/dev/null; wait $child 2>/dev/null; exit 0' TERM INT
while kill -0 "$PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.2; done
kill -9 $child 2>/dev/null
wait $child 2>/dev/null
[ -n "$CLEANUP" ] && rm -rf "$DIR"
exit 0
"#;

/// The models every server serves, by name.
pub const MODELS: [&str; 6] = [
    "image-stats",
    "image-stats-nhwc",
    "audio-stats",
    "embedder",
    "llm",
    "iris",
];

/// A running MLServer.
pub struct MlServer {
    watchdog: Option<Child>,
    dir: PathBuf,
    http: u16,
    grpc: u16,
    metrics: u16,
    executable: PathBuf,
    shared: bool,
}

impl MlServer {
    /// The one server of this test process, started on first use.
    pub fn shared() -> &'static MlServer {
        static SHARED: OnceLock<MlServer> = OnceLock::new();
        SHARED.get_or_init(|| Self::launch(true))
    }

    /// A server of its own, stopped when dropped.
    pub fn start() -> Self {
        Self::launch(false)
    }

    fn launch(shared: bool) -> Self {
        let executable = std::env::var_os(MLSERVER_ENV)
            .map(PathBuf::from)
            .unwrap_or_default();
        assert!(
            executable.is_file(),
            "these tests need a real MLServer: {MLSERVER_ENV} must name its `mlserver` \
             executable ({executable:?} is not a file). Run `.ci/test` (it installs MLServer \
             into a venv of its own and sets {MLSERVER_ENV}), e.g. `.ci/test -p omnigate-backend-oip`"
        );
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "omnigate-mlserver-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        write_models(&dir, &executable);
        for _ in 0..3 {
            let mut server = Self {
                watchdog: None,
                dir: dir.clone(),
                http: free_port(),
                grpc: free_port(),
                metrics: free_port(),
                executable: executable.clone(),
                shared,
            };
            if server.http == server.grpc
                || server.grpc == server.metrics
                || server.http == server.metrics
            {
                continue;
            }
            if server.run() {
                return server;
            }
        }
        panic!(
            "MLServer did not start on three sets of free ports:\n{}",
            log_tail(&dir)
        );
    }

    /// Starts the process on this server's ports and waits until every model is ready; false
    /// when it exited because a port was taken.
    fn run(&mut self) -> bool {
        let settings = json!({"http_port": self.http, "grpc_port": self.grpc,
            "metrics_port": self.metrics, "host": "127.0.0.1", "parallel_workers": 0});
        std::fs::write(self.dir.join("settings.json"), settings.to_string()).unwrap();
        let _ = std::fs::remove_file(self.dir.join("mlserver.log"));
        let child = Command::new("sh")
            .args(["-c", WATCHDOG])
            .env("MLSERVER", &self.executable)
            .env("DIR", &self.dir)
            .env("PARENT", std::process::id().to_string())
            .env("CLEANUP", if self.shared { "1" } else { "" })
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.watchdog = Some(child);
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline {
            if self
                .watchdog
                .as_mut()
                .unwrap()
                .try_wait()
                .unwrap()
                .is_some()
            {
                let log = log_tail(&self.dir);
                if log.contains("address already in use") || log.contains("Address already in use")
                {
                    return false;
                }
                panic!("MLServer exited while starting:\n{log}");
            }
            if MODELS
                .iter()
                .all(|m| http_status(self.http, &format!("/v2/models/{m}/ready")) == Some(200))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "MLServer was not ready within 180 s:\n{}",
            log_tail(&self.dir)
        );
    }

    /// `http://127.0.0.1:PORT`, its REST address.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// `http://127.0.0.1:PORT`, its gRPC address.
    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    /// Kills it (SIGKILL: a crash, not a shutdown); its ports stay this server's.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &watchdog.id().to_string()])
                .status();
            let _ = watchdog.wait();
        }
    }

    /// Starts it again on the same ports and waits until its models are ready.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.run(),
            "MLServer could not take its ports back:\n{}",
            log_tail(&self.dir)
        );
    }
}

impl Drop for MlServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The embedder's vector of `text`: `v[d] = (Σ byte[j]·(j + d + 1)) mod 997 / 997`.
pub fn hash_vector(text: &str) -> Vec<f32> {
    (0..8u64)
        .map(|d| {
            let sum: u64 = text
                .bytes()
                .enumerate()
                .map(|(j, b)| u64::from(b) * (j as u64 + d + 1))
                .sum();
            ((sum % 997) as f64 / 997.0) as f32
        })
        .collect()
}

fn write_models(dir: &Path, executable: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("omnigate_test_models.py"), RUNTIME).unwrap();
    let stats = |layout: &str, shape: [i64; 4]| {
        json!({"implementation": "omnigate_test_models.ImageStats",
            "parameters": {"extra": {"layout": layout}},
            "inputs": [{"name": "pixel_values", "datatype": "FP32", "shape": shape}],
            "outputs": [{"name": "channel_mean", "datatype": "FP64", "shape": [-1, 3]},
                        {"name": "pixels", "datatype": "FP32", "shape": [-1, 3, 4]}]})
    };
    let models = [
        ("image-stats", stats("nchw", [-1, 3, 224, 224])),
        ("image-stats-nhwc", stats("nhwc", [-1, 224, 224, 3])),
        (
            "audio-stats",
            json!({"implementation": "omnigate_test_models.AudioStats",
            "inputs": [{"name": "waveform", "datatype": "FP32", "shape": [-1]}],
            "outputs": [{"name": "length", "datatype": "INT64", "shape": [1]},
                        {"name": "head", "datatype": "FP32", "shape": [8]},
                        {"name": "total", "datatype": "FP64", "shape": [1]}]}),
        ),
        (
            "embedder",
            json!({"implementation": "omnigate_test_models.HashEmbedder",
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": "embedding", "datatype": "FP32", "shape": [-1, 8]}]}),
        ),
        (
            "llm",
            json!({"implementation": "omnigate_test_models.EchoLlm",
            "inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [1]}],
            "outputs": [{"name": "text_output", "datatype": "BYTES", "shape": [1]}]}),
        ),
        (
            "iris",
            json!({"implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
            "inputs": [{"name": "measurements", "datatype": "FP64", "shape": [-1, 4]}],
            "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1, 1]}]}),
        ),
    ];
    for (name, mut settings) in models {
        settings["name"] = json!(name);
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("model-settings.json"), settings.to_string()).unwrap();
    }
    let python = executable.with_file_name("python");
    let trained = Command::new(&python)
        .args(["-c", TRAIN_IRIS])
        .arg(dir.join("iris").join("model.joblib"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {python:?} to fit the iris model: {e}"));
    assert!(trained.success(), "fitting the iris model failed");
}

/// The status of `GET path` on a loopback port, `None` if nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("mlserver.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
