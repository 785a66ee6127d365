//! The access log in the real binary under `log_format = "json"`: one line per request with
//! its ids, route, model, deployment, status, durations and usage; never the bearer key nor a
//! media payload; none at all with `server.access_log = false`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnigate_testkit::FakeUpstream;
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "sk-access-log-test-5c1d7e";

/// A gateway process, stopped (SIGTERM, then killed) when dropped.
struct Process {
    child: Child,
    stderr: Option<std::thread::JoinHandle<String>>,
    port: u16,
}

impl Process {
    async fn start(upstream: &FakeUpstream, access_log: bool, filter: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let toml = format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\nlog_format = \"json\"\naccess_log = {access_log}\n\
             api_keys = [\"{SECRET}\"]\n\
             [models.vision]\nmodalities = [\"text\", \"image\"]\n[models.vision.image]\nmax_side = 64\n\
             [[models.vision.deployments]]\nkind = \"openai\"\nname = \"left\"\nbase_url = \"{}\"\n",
            upstream.base_url()
        );
        let dir = std::env::temp_dir().join(format!("omnigate-access-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("omnigate.toml");
        std::fs::write(&path, toml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read as it comes, so a full pipe never blocks the gateway.
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        let process = Self {
            child,
            stderr: Some(stderr),
            port,
        };
        let client = reqwest::Client::new();
        let give_up = Instant::now() + Duration::from_secs(30);
        while client.get(process.url("/health")).send().await.is_err() {
            assert!(Instant::now() < give_up, "the gateway never came up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops it gracefully and returns what it wrote on stderr.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let give_up = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < give_up,
                "the gateway did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stderr.take().unwrap().join().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The access-log lines of `stderr`, parsed, each by its request id.
fn access_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "omnigate::access")
        .collect()
}

fn line_for<'a>(lines: &'a [Value], id: &str) -> &'a Value {
    let found: Vec<_> = lines
        .iter()
        .filter(|line| line["fields"]["request_id"] == id)
        .collect();
    assert_eq!(found.len(), 1, "one line for {id}: {lines:#?}");
    &found[0]["fields"]
}

async fn post(client: &reqwest::Client, url: String, id: &str, key: bool, body: Value) -> String {
    let mut request = client.post(url).header("x-request-id", id).json(&body);
    if key {
        request = request.bearer_auth(SECRET);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success() || !key, "{id}: {status} {text}");
    text
}

#[tokio::test]
async fn each_request_writes_one_json_line_without_the_key_or_media() {
    let upstream = FakeUpstream::start().await;
    let gateway = Process::start(&upstream, true, "warn,omnigate::access=info").await;
    let client = reqwest::Client::new();
    let picture = BASE64.encode(crate::media::png(128, 64));
    let chat = gateway.url("/v1/chat/completions");
    let with_picture = json!({"model": "vision", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{picture}")}}]}]});
    post(&client, chat.clone(), "access-picture", true, with_picture).await;
    let stream = json!({"model": "vision", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Hi"}]});
    let events = post(&client, chat.clone(), "access-stream", true, stream).await;
    assert!(events.contains("[DONE]"));
    post(
        &client,
        chat.clone(),
        "access-no-key",
        false,
        json!({"model": "vision"}),
    )
    .await;
    let stderr = gateway.stop();

    assert!(!stderr.contains(SECRET), "the key was logged:\n{stderr}");
    assert!(
        !stderr.contains(&picture[..64]),
        "the picture was logged:\n{stderr}"
    );
    let lines = access_lines(&stderr);

    let line = line_for(&lines, "access-picture");
    assert_eq!(line["message"], "request");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "/v1/chat/completions");
    assert_eq!(line["model"], "vision");
    assert_eq!(line["deployment"], "left");
    assert_eq!(line["status"], 200);
    assert_eq!(line["attempts"], 1);
    assert_eq!(line["input_tokens"], 9);
    assert_eq!(line["output_tokens"], 8);
    assert_eq!(line["images"], 1);
    assert_eq!(line["image_pixels"], 64 * 32);
    let ms = |key: &str| {
        line[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key}: {line}"))
    };
    let (duration, overhead, upstream_ms, media) = (
        ms("duration_ms"),
        ms("overhead_ms"),
        ms("upstream_ms"),
        ms("media_ms"),
    );
    assert!(duration >= overhead && duration >= upstream_ms, "{line}");
    assert!(overhead >= media && media > 0.0, "{line}");
    for absent in [
        "ttfb_ms",
        "trace_id",
        "error_code",
        "served_by",
        "audio_seconds",
    ] {
        assert!(line.get(absent).is_none(), "{absent} in {line}");
    }

    let line = line_for(&lines, "access-stream");
    assert_eq!(line["status"], 200);
    assert_eq!(line["output_tokens"], 8);
    let ttfb = line["ttfb_ms"].as_f64().unwrap();
    assert!(
        ttfb > 0.0 && ttfb <= line["duration_ms"].as_f64().unwrap(),
        "{line}"
    );

    let line = line_for(&lines, "access-no-key");
    assert_eq!(line["status"], 401);
    assert_eq!(line["error_code"], "invalid_api_key");
    assert!(line.get("model").is_none(), "{line}");
    assert!(line.get("attempts").is_none(), "{line}");
}

#[tokio::test]
async fn access_log_false_writes_no_line() {
    let upstream = FakeUpstream::start().await;
    let gateway = Process::start(&upstream, false, "info").await;
    let client = reqwest::Client::new();
    let chat = json!({"model": "vision", "messages": [{"role": "user", "content": "Hi"}]});
    post(
        &client,
        gateway.url("/v1/chat/completions"),
        "quiet",
        true,
        chat,
    )
    .await;
    let stderr = gateway.stop();
    assert!(
        stderr.contains("omnigate listening"),
        "info lines are written: {stderr}"
    );
    assert!(access_lines(&stderr).is_empty(), "{stderr}");
}
