//! Routing and resilience over HTTP: several real upstreams behind one model, some failing, and
//! exactly what the client gets. A request any healthy deployment can answer is answered.

use crate::audio::{form, post, wav};
use crate::common::{Gateway, chat_body, expect_error};
use omnigate_testkit::{FakeUpstream, Mode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One model `m` (chat, embeddings and transcription) over `upstreams`, with `routing` as its
/// `[routing]` table and `extra` appended (more models).
fn config(upstreams: &[&FakeUpstream], routing: &str, extra: &str) -> String {
    let mut toml = format!(
        r#"
[server]
bind = "127.0.0.1:0"
readiness_timeout_secs = 0.5

[models.m]
tasks = ["chat", "embeddings", "transcription"]
routing = {{ strategy = "round_robin", {routing} }}
"#
    );
    for upstream in upstreams {
        toml.push_str(&format!(
            "[[models.m.deployments]]\nkind = \"openai\"\nbase_url = \"{}\"\ntimeout_secs = 5.0\n",
            upstream.base_url()
        ));
    }
    toml.push_str(extra);
    toml
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn a_failing_deployment_costs_the_client_nothing() {
    let broken = FakeUpstream::start().await;
    let healthy = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&[&broken, &healthy], "max_attempts = 3", "")).await;
    for (mode, what) in [
        (Mode::Fail(500), "500"),
        (Mode::Fail(502), "502"),
        (Mode::Fail(503), "503"),
        (Mode::Fail(429), "429"),
        (Mode::Garbage, "a 200 that is not JSON"),
    ] {
        broken.set_mode(mode);
        for _ in 0..4 {
            let response = gateway
                .post_json("/v1/chat/completions", chat_body("m"))
                .await;
            assert_eq!(response.status(), 200, "{what}");
            assert_eq!(header(&response, "x-omnigate-model"), "m");
            assert_eq!(header(&response, "x-omnigate-deployment"), "1", "{what}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["model"], "m");
        }
        let response = gateway
            .post_json("/v1/embeddings", json!({"model": "m", "input": "x"}))
            .await;
        assert_eq!(response.status(), 200, "embeddings past {what}");
    }
    let response = post(
        &gateway,
        "/v1/audio/transcriptions",
        form("m", None, wav(16_000, 1)),
    )
    .await;
    assert_eq!(
        response.status(),
        200,
        "transcription past a broken deployment"
    );
}

#[tokio::test]
async fn a_retried_request_says_how_many_tries_it_took() {
    let broken = FakeUpstream::start().await;
    let healthy = FakeUpstream::start().await;
    broken.set_mode(Mode::Fail(500));
    let gateway = Gateway::from_toml(&config(&[&broken, &healthy], "max_attempts = 3", "")).await;
    // Round-robin sends the first request to the broken one first.
    let response = gateway
        .post_json("/v1/chat/completions", chat_body("m"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-omnigate-attempts"), "2");
    assert_eq!(broken.requests().len(), 1);
    assert_eq!(healthy.requests().len(), 1);
}

#[tokio::test]
async fn a_dead_deployment_is_ejected_and_gets_no_more_traffic() {
    let dead = FakeUpstream::start().await;
    let healthy = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(
        &[&dead, &healthy],
        "consecutive_failures = 2, base_ejection_secs = 30.0, max_ejection_secs = 30.0",
        "",
    ))
    .await;
    dead.stop().await;
    for _ in 0..20 {
        let response = gateway
            .post_json("/v1/chat/completions", chat_body("m"))
            .await;
        assert_eq!(response.status(), 200);
    }
    let view: Value = gateway.get("/v1/deployments").await.json().await.unwrap();
    let dead_view = &view["data"][0];
    assert_eq!(dead_view["state"], "ejected", "{view}");
    assert_eq!(
        dead_view["failures"], 2,
        "two tries, then no traffic: {view}"
    );
    assert!(dead_view["recent_errors"][0].is_string(), "{view}");
    assert_eq!(view["data"][1]["state"], "healthy");
    assert_eq!(healthy.requests().len(), 20);
}

#[tokio::test]
async fn a_hanging_deployment_is_abandoned_after_the_per_try_timeout() {
    let hanging = FakeUpstream::start().await;
    let healthy = FakeUpstream::start().await;
    hanging.set_mode(Mode::Hang);
    let gateway = Gateway::from_toml(&config(
        &[&hanging, &healthy],
        "per_try_timeout_secs = 0.3",
        "",
    ))
    .await;
    let response = gateway
        .post_json("/v1/chat/completions", chat_body("m"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-omnigate-deployment"), "1");
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let stream = gateway.post_json("/v1/chat/completions", body).await;
    assert_eq!(stream.status(), 200);
    let text = stream.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_event_is_retried() {
    let broken = FakeUpstream::start().await;
    let healthy = FakeUpstream::start().await;
    broken.set_mode(Mode::Fail(503));
    let gateway = Gateway::from_toml(&config(&[&broken, &healthy], "max_attempts = 2", "")).await;
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let response = gateway.post_json("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-omnigate-attempts"), "2");
    let text = response.text().await.unwrap();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

#[tokio::test]
async fn with_no_healthy_deployment_the_client_gets_a_clear_error_in_time() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    a.set_mode(Mode::Fail(500));
    b.set_mode(Mode::Fail(502));
    let gateway = Gateway::from_toml(&config(&[&a, &b], "max_attempts = 3", "")).await;
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", chat_body("m"))
            .await,
        502,
    )
    .await;
    assert_eq!(error["code"], "bad_gateway");

    a.set_mode(Mode::Hang);
    b.set_mode(Mode::Hang);
    let started = Instant::now();
    let response = gateway
        .client
        .post(gateway.url("/v1/chat/completions"))
        .header("x-omnigate-timeout-ms", "400")
        .json(&chat_body("m"))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 504).await;
    assert_eq!(error["code"], "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the deadline held"
    );

    let bad = gateway
        .client
        .post(gateway.url("/v1/chat/completions"))
        .header("x-omnigate-timeout-ms", "soon")
        .json(&chat_body("m"))
        .send()
        .await
        .unwrap();
    let error = expect_error(bad, 400).await;
    assert_eq!(error["param"], "x-omnigate-timeout-ms");
}

#[tokio::test]
async fn the_clients_own_mistake_is_not_retried() {
    let a = FakeUpstream::start().await;
    let b = FakeUpstream::start().await;
    a.set_mode(Mode::Fail(400));
    b.set_mode(Mode::Fail(400));
    let gateway = Gateway::from_toml(&config(&[&a, &b], "max_attempts = 3", "")).await;
    expect_error(
        gateway
            .post_json("/v1/chat/completions", chat_body("m"))
            .await,
        400,
    )
    .await;
    assert_eq!(a.requests().len() + b.requests().len(), 1);
}

#[tokio::test]
async fn a_model_with_no_deployment_left_falls_back_on_the_next() {
    let broken = FakeUpstream::start().await;
    let backup = FakeUpstream::start().await;
    broken.set_mode(Mode::Fail(500));
    let extra = format!(
        r#"
[models.backup]
[[models.backup.deployments]]
kind = "openai"
base_url = "{}"
model = "backup-upstream"
"#,
        backup.base_url()
    );
    let toml = config(&[&broken], "max_attempts = 2", &extra)
        .replace("[models.m]\n", "[models.m]\nfallbacks = [\"backup\"]\n");
    let gateway = Gateway::from_toml(&toml).await;
    let response = gateway
        .post_json("/v1/chat/completions", chat_body("m"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-omnigate-model"), "backup");
    assert_eq!(header(&response, "x-omnigate-attempts"), "3");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["model"], "backup");
    assert_eq!(backup.last_request().body["model"], "backup-upstream");
}

#[tokio::test]
async fn the_deployments_view_needs_an_admin_key_once_keys_are_configured() {
    let upstream = FakeUpstream::start().await;
    let toml = config(&[&upstream], "max_attempts = 1", "").replace(
        "readiness_timeout_secs = 0.5\n",
        "readiness_timeout_secs = 0.5\napi_keys = [\"sk-user\"]\nadmin_api_keys = [\"sk-admin\"]\n",
    );
    let gateway = Gateway::from_toml(&toml).await;
    let get = |key: &'static str| {
        let request = gateway.client.get(gateway.url("/v1/deployments"));
        async move { request.bearer_auth(key).send().await.unwrap() }
    };
    expect_error(get("sk-user").await, 403).await;
    expect_error(gateway.get("/v1/deployments").await, 401).await;
    let view: Value = get("sk-admin").await.json().await.unwrap();
    assert_eq!(view["object"], "list");
    assert_eq!(view["data"][0]["model"], "m");
    assert_eq!(view["data"][0]["state"], "healthy");
}

#[tokio::test]
async fn a_slow_deployment_is_hedged_when_the_model_asks_for_it() {
    let slow = FakeUpstream::start().await;
    let fast = FakeUpstream::start().await;
    slow.set_mode(Mode::Delay(Duration::from_secs(3)));
    let gateway = Gateway::from_toml(&config(
        &[&slow, &fast],
        "hedge = true, hedge_min_delay_ms = 100.0",
        "",
    ))
    .await;
    let started = Instant::now();
    // Round-robin sends the first try to the slow one; the hedge goes to the fast one.
    let response = gateway
        .post_json("/v1/chat/completions", chat_body("m"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-omnigate-deployment"), "1");
    assert_eq!(header(&response, "x-omnigate-attempts"), "2");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the hedge answered first"
    );
    assert_eq!(slow.requests().len(), 1);
    assert_eq!(fast.requests().len(), 1);
}

/// Polls the deployments view until deployment `index` of `m` is in `state` (bounded).
async fn wait_for_state(gateway: &Gateway, index: usize, state: &str) -> Value {
    for _ in 0..100 {
        let view: Value = gateway.get("/v1/deployments").await.json().await.unwrap();
        if view["data"][index]["state"] == state {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deployment {index} never became {state}");
}

#[tokio::test]
async fn an_active_probe_takes_a_dead_deployment_out_before_a_request_fails_on_it() {
    let dead = FakeUpstream::start().await;
    let healthy = FakeUpstream::start().await;
    let toml = config(&[&dead, &healthy], "max_attempts = 1", "").replace(
        "timeout_secs = 5.0\n",
        "timeout_secs = 5.0\nhealth_interval_secs = 0.1\n",
    );
    let gateway = Gateway::from_toml(&toml).await;
    dead.stop().await;
    let view = wait_for_state(&gateway, 0, "ejected").await;
    assert!(
        view["data"][0]["recent_errors"][0]
            .as_str()
            .unwrap()
            .starts_with("probe: "),
        "{view}"
    );
    // With one try allowed, a request sent to the dead one would fail: none is.
    for _ in 0..10 {
        let response = gateway
            .post_json("/v1/chat/completions", chat_body("m"))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-omnigate-deployment"), "1");
    }
}

#[tokio::test]
async fn a_request_with_media_the_model_lacks_goes_to_a_fallback_that_takes_it() {
    let text_only = FakeUpstream::start().await;
    let vision = FakeUpstream::start().await;
    let extra = format!(
        "[models.vision]\nmodalities = [\"text\", \"image\"]\n[[models.vision.deployments]]\n\
         kind = \"openai\"\nbase_url = \"{}\"\n",
        vision.base_url()
    );
    let toml = config(&[&text_only], "max_attempts = 1", &extra)
        .replace("[models.m]\n", "[models.m]\nfallbacks = [\"vision\"]\n");
    let gateway = Gateway::from_toml(&toml).await;
    use base64::Engine;
    let picture = base64::engine::general_purpose::STANDARD.encode(crate::media::png(8, 8));
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{picture}")}}
    ]}]});
    let response = gateway.post_json("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-omnigate-model"), "vision");
    assert!(text_only.requests().is_empty());
    // Text alone stays with the model asked for.
    let response = gateway
        .post_json("/v1/chat/completions", chat_body("m"))
        .await;
    assert_eq!(header(&response, "x-omnigate-model"), "m");
}

#[tokio::test]
async fn a_named_deployment_is_called_by_its_name() {
    let upstream = FakeUpstream::start().await;
    let toml = format!(
        r#"
[server]
bind = "127.0.0.1:0"

[models.named]
[[models.named.deployments]]
kind = "openai"
name = "us-east"
base_url = "{}"
"#,
        upstream.base_url()
    );
    let gateway = Gateway::from_toml(&toml).await;
    let response = gateway
        .post_json("/v1/chat/completions", chat_body("named"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-omnigate-deployment"), "us-east");
    let view: Value = gateway.get("/v1/deployments").await.json().await.unwrap();
    assert_eq!(view["data"][0]["deployment"], "us-east", "{view}");
}
