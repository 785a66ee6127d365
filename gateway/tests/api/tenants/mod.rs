//! Virtual keys over HTTP, on the in-memory store: the shared setup (three models, an admin and
//! an operator key, keys appended per test) and the helpers every test here calls.
//!
//! - `limits.rs`: limits counted exactly, allow-lists, expiry, disabling, hostile tokens,
//!   budgets, media and token limits, concurrency, streams billed by their usage;
//! - `admin_api.rs`: keys made, changed and deleted through `/admin/keys`;
//! - `reload.rs`: the config's keys reloaded on SIGHUP in the real binary.

mod admin_api;
mod limits;
mod reload;

use crate::common::Gateway;
use omnigate_testkit::FakeUpstream;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ADMIN: &str = "sk-admin-test";
const OPERATOR: &str = "sk-operator-test";

/// Models `chat` (chat), `embed` (embeddings) and `asr` (transcription) over `upstream`, an
/// admin key, an operator key (`server.api_keys`), and `keys` appended (`[[keys]]` tables).
fn config(upstream: &FakeUpstream, keys: &str) -> String {
    let url = upstream.base_url();
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
api_keys = ["{OPERATOR}"]
admin_api_keys = ["{ADMIN}"]

[models.chat]
[models.chat.prices]
prompt_per_1k_tokens = 1.0
completion_per_1k_tokens = 1.0
[[models.chat.deployments]]
kind = "openai"
base_url = "{url}"

[models.embed]
tasks = ["embeddings"]
[[models.embed.deployments]]
kind = "openai"
base_url = "{url}"

[models.asr]
tasks = ["transcription"]
[[models.asr.deployments]]
kind = "openai"
base_url = "{url}"

{keys}
"#
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hi there"}]})
}

async fn post(gateway: &Gateway, key: &str, path: &str, body: Value) -> reqwest::Response {
    gateway
        .client
        .post(gateway.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn admin(
    gateway: &Gateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = gateway
        .client
        .request(method, gateway.url(path))
        .bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A chat request to model `chat` with `key`.
async fn chat_as(gateway: &Gateway, key: &str) -> reqwest::Response {
    post(gateway, key, "/v1/chat/completions", chat("chat")).await
}

/// Waits (bounded) until the usage report shows `requests` for `key`: settlement runs after the
/// answer, off the request's path.
async fn usage_of(gateway: &Gateway, key: &str, requests: u64) -> Value {
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        let report: Value = admin(
            gateway,
            reqwest::Method::GET,
            &format!("/admin/usage?key={key}&group_by=model"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        let seen: u64 = report["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["requests"].as_u64().unwrap())
            .sum();
        if seen >= requests {
            return report;
        }
        assert!(Instant::now() < give_up, "usage never arrived: {report}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
