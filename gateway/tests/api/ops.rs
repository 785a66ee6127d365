//! Liveness and readiness, with the upstream up, hanging and gone.

use crate::common::Gateway;
use omnigate_testkit::{FakeUpstream, Mode};

#[tokio::test]
async fn health_is_always_ok() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let response = gateway.get("/health").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    upstream.stop().await;
    assert_eq!(gateway.get("/health").await.status(), 200);
}

#[tokio::test]
async fn readiness_follows_the_upstream() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let ready = gateway.get("/ready").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["deployments"].as_array().unwrap().len(), 2);

    // Hanging upstream: the probe's deadline (0.5 s) answers for it.
    upstream.set_mode(Mode::Hang);
    let hanging = gateway.get("/ready").await;
    assert_eq!(hanging.status(), 503);
    let body: serde_json::Value = hanging.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["deployments"][0]["healthy"], false);

    upstream.set_mode(Mode::Normal);
    assert_eq!(gateway.get("/ready").await.status(), 200);
    upstream.stop().await;
    assert_eq!(gateway.get("/ready").await.status(), 503);
}

#[tokio::test]
async fn request_ids_are_generated_or_kept() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let a = gateway.get("/health").await.headers()["x-request-id"].clone();
    let b = gateway.get("/health").await.headers()["x-request-id"].clone();
    assert_ne!(a, b);
    let kept = gateway
        .client
        .get(gateway.url("/health"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn docs_page_renders_offline_and_spec_is_served() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    let spec: serde_json::Value = gateway.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let page = gateway.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Its assets come from this server, not a CDN.
    assert!(
        !html.contains("https://"),
        "the docs page must not load remote assets"
    );
    let bundle = gateway.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn overhead_is_reported_in_a_header_and_in_metrics() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::start(&upstream).await;
    upstream.set_mode(Mode::Delay(std::time::Duration::from_millis(300)));
    let response = gateway
        .post_json("/v1/chat/completions", crate::common::chat_body("chat"))
        .await;
    assert_eq!(response.status(), 200);
    let overhead: f64 = response.headers()["x-omnigate-overhead-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The upstream took 300 ms; the gateway's own share excludes it.
    assert!((0.0..250.0).contains(&overhead), "overhead {overhead} ms");
    let metrics = gateway.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("omnigate_overhead_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/v1/chat/completions""#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"omnigate_requests_total{route="/v1/chat/completions",status="2xx"}"#),
        "{metrics}"
    );
    // Each status class is a series of its own.
    let refused = gateway
        .post_json(
            "/v1/chat/completions",
            crate::common::chat_body("no-such-model"),
        )
        .await;
    assert_eq!(refused.status(), 404);
    let metrics = gateway.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"omnigate_requests_total{route="/v1/chat/completions",status="4xx"}"#),
        "{metrics}"
    );
}
