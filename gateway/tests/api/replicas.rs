//! Replicas sharing one real redis-server: a key's limit holds across all of them, exactly; a
//! store that dies is handled by the configured policy, never a hang; counting resumes when it
//! comes back. The in-memory store, for contrast, counts per replica.

use crate::common::{Gateway, expect_error};
use futures::future::join_all;
use omnigate_testkit::{FakeUpstream, RedisServer};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "sk-og-shared-key";

/// A gateway with model `chat` over `upstream` and a key limited to `rpm` requests a minute;
/// `state` is the body of its `[state]` table.
fn config(upstream: &FakeUpstream, state: &str, rpm: u64) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"

[state]
{state}

[models.chat]
[[models.chat.deployments]]
kind = "openai"
base_url = "{}"

[[keys]]
id = "shared"
secret = "{SECRET}"
limits = {{ requests_per_minute = {rpm} }}
"#,
        upstream.base_url()
    )
}

async fn chat(gateway: &Gateway) -> reqwest::Response {
    gateway
        .client
        .post(gateway.url("/v1/chat/completions"))
        .bearer_auth(SECRET)
        .json(&json!({"model": "chat", "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap()
}

/// 32 clients sending `total` requests spread over `replicas` in turn; how many were answered
/// 200 (every other answer must be the limit's 429).
async fn spread(replicas: &[Arc<Gateway>], total: usize) -> usize {
    let sent = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let clients = (0..32).map(|_| {
        let (sent, accepted) = (Arc::clone(&sent), Arc::clone(&accepted));
        let replicas = replicas.to_vec();
        async move {
            loop {
                let n = sent.fetch_add(1, Ordering::SeqCst);
                if n >= total {
                    break;
                }
                let response = chat(&replicas[n % replicas.len()]).await;
                match response.status().as_u16() {
                    200 => {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    429 => {}
                    other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
                }
            }
        }
    });
    join_all(clients).await;
    accepted.load(Ordering::SeqCst)
}

async fn replicas(toml: &str) -> Vec<Arc<Gateway>> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(Arc::new(Gateway::from_toml(toml).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_on_one_redis_admit_exactly_the_limit() {
    let redis = RedisServer::start();
    let upstream = FakeUpstream::start().await;
    let shared = config(
        &upstream,
        &format!(
            "redis_url = \"{}\"\nredis_prefix = \"replicas:\"",
            redis.url()
        ),
        120,
    );
    let accepted = spread(&replicas(&shared).await, 400).await;
    assert_eq!(accepted, 120, "one limit across the three replicas");

    // In memory, each replica counts alone: three times the limit gets through.
    let local = config(&upstream, "", 120);
    let accepted = spread(&replicas(&local).await, 400).await;
    assert_eq!(accepted, 360, "the in-memory store counts per replica");
}

#[tokio::test]
async fn a_dead_store_is_handled_by_the_policy_and_counting_resumes_when_it_returns() {
    let redis = RedisServer::start();
    let port = redis.port();
    let upstream = FakeUpstream::start().await;
    let state = |policy: &str| {
        format!(
            "redis_url = \"{}\"\nredis_prefix = \"outage-{policy}:\"\non_unavailable = \"{policy}\"\ntimeout_ms = 300",
            redis.url()
        )
    };
    let open = Gateway::from_toml(&config(&upstream, &state("fail_open"), 3)).await;
    let closed = Gateway::from_toml(&config(&upstream, &state("fail_closed"), 3)).await;
    for gateway in [&open, &closed] {
        assert_eq!(chat(gateway).await.status(), 200);
    }

    redis.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let served = chat(&open).await;
        assert_eq!(served.status(), 200, "fail_open serves");
        assert!(
            served.headers()["x-omnigate-limits"]
                .to_str()
                .unwrap()
                .starts_with("local"),
            "and says it counted locally"
        );
        let refused = chat(&closed).await;
        assert_eq!(refused.headers()["retry-after"], "1");
        let error = expect_error(refused, 503).await;
        assert!(error["message"].as_str().unwrap().contains("store"));
        assert!(started.elapsed() < Duration::from_secs(3), "never a hang");
    }
    // Locally fail_open still holds the limit: its own count (3 over the outage) is full.
    expect_error(chat(&open).await, 429).await;

    // Back on the same port (empty: it kept nothing): both count again, in Redis.
    let _redis = RedisServer::start_on(port).expect("the port it had");
    let give_up = Instant::now() + Duration::from_secs(10);
    while chat(&closed).await.status() != 200 {
        assert!(Instant::now() < give_up, "fail_closed never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One admitted above; two more fit the window of three, then the limit refuses.
    assert_eq!(chat(&closed).await.status(), 200);
    assert_eq!(chat(&closed).await.status(), 200);
    let refused = chat(&closed).await;
    assert_eq!(refused.headers()["x-ratelimit-remaining-requests"], "0");
    expect_error(refused, 429).await;
}
