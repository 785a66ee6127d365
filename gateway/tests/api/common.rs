//! Test harness: a gateway started in-process on 127.0.0.1:0 from a TOML config, serving over a
//! real socket until dropped (graceful shutdown on drop).

use omnigate::Server;
use omnigate_testkit::FakeUpstream;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Gateway {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A config with a chat model, an embeddings model and a model with two deployments, all
/// pointing at `upstream`. `server` is appended to the `[server]` table.
pub fn config_for(upstream: &str, server: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
readiness_timeout_secs = 0.5
{server}

[models.chat]
modalities = ["text"]
[[models.chat.deployments]]
kind = "openai"
base_url = "{upstream}"
model = "upstream-chat"
timeout_secs = 1.0

[models.embed]
tasks = ["embeddings"]
[[models.embed.deployments]]
kind = "openai"
base_url = "{upstream}"
model = "upstream-embed"
timeout_secs = 1.0
"#
    )
}

impl Gateway {
    /// Starts a gateway from a full TOML config.
    pub async fn from_toml(toml: &str) -> Self {
        let config = omnigate_config::load_str(toml, "test config").unwrap();
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Starts a gateway in front of `upstream` with the standard test models.
    pub async fn start(upstream: &FakeUpstream) -> Self {
        Self::from_toml(&config_for(&upstream.base_url(), "")).await
    }

    /// Same, with extra `[server]` settings.
    pub async fn start_with(upstream: &FakeUpstream, server: &str) -> Self {
        Self::from_toml(&config_for(&upstream.base_url(), server)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Begins graceful shutdown and returns the server task, to await its end.
    pub fn shutdown(mut self) -> JoinHandle<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A model `vision` (text, pictures, sound; pictures fit in 256 px) in front of `upstream`,
/// with `media` as the body of the server's `[media]` table (its sub-tables may follow).
pub fn vision_config(upstream: &str, media: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"

[media]
{media}

[models.vision]
modalities = ["text", "image", "audio"]
[models.vision.image]
max_side = 256
[[models.vision.deployments]]
kind = "openai"
base_url = "{upstream}"
timeout_secs = 5
"#
    )
}

/// Asserts an OpenAI error envelope with `status`, returning the `error` object.
pub async fn expect_error(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    assert!(
        response.headers().contains_key("x-request-id"),
        "error responses carry x-request-id too"
    );
    let body: serde_json::Value = response.json().await.expect("error body is JSON");
    let error = body.get("error").expect("OpenAI envelope").clone();
    for key in ["message", "type", "param", "code"] {
        assert!(error.get(key).is_some(), "envelope lacks `{key}`: {body}");
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    error
}

pub fn chat_body(model: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "Hi there"}]})
}

pub const SHORT: Duration = Duration::from_secs(5);

/// 16-bit PCM WAV: `seconds` of a 440 Hz tone, or a header that declares `declared_frames`.
pub fn wav(rate: u32, channels: u16, seconds: f64, declared_frames: Option<u32>) -> Vec<u8> {
    let frames = (f64::from(rate) * seconds) as u32;
    let data_len = declared_frames.unwrap_or(frames) * u32::from(channels) * 2;
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let v = (f64::from(i) / f64::from(rate) * 440.0 * std::f64::consts::TAU).sin() * 0.5;
        for _ in 0..channels {
            out.extend_from_slice(&((v * 32767.0) as i16).to_le_bytes());
        }
    }
    out
}
