//! `/metrics` after a known mix of requests: every series of the mix's own models checked
//! exactly (the test binary shares one recorder, so the models here have names no other test
//! uses, and their series start from nothing), the whole text accepted by a strict parser and
//! by `promtool check metrics`, and every metric the Grafana dashboard queries present.

use crate::common::{Gateway, expect_error, wav};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnigate_testkit::{FakeUpstream, Mode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Four models named `{prefix}-chat`, `-embed`, `-vision` and `-asr` in front of `upstream`.
fn config(upstream: &str, prefix: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"

[models.metrics-chat]
[models.metrics-chat.routing]
max_attempts = 1
[[models.metrics-chat.deployments]]
kind = "openai"
name = "primary"
base_url = "{upstream}"
model = "upstream-chat"

[models.metrics-embed]
tasks = ["embeddings"]
[[models.metrics-embed.deployments]]
kind = "openai"
base_url = "{upstream}"

[models.metrics-vision]
modalities = ["text", "image", "audio"]
[models.metrics-vision.image]
max_side = 64
[[models.metrics-vision.deployments]]
kind = "openai"
base_url = "{upstream}"

[models.metrics-asr]
tasks = ["transcription"]
modalities = ["audio"]
[[models.metrics-asr.deployments]]
kind = "openai"
base_url = "{upstream}"
"#
    )
    .replace("metrics-", &format!("{prefix}-"))
}

/// One sample of the text format: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// The samples of a scrape, parsed strictly: a line that is not a comment, blank or a valid
/// sample fails the test.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line}"
        );
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices();
            let mut key = String::new();
            let end = loop {
                let (i, c) = chars.next().unwrap_or_else(|| panic!("unclosed: {line}"));
                match c {
                    '}' if key.is_empty() => break i,
                    '=' => {
                        assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                        let mut value = String::new();
                        loop {
                            match chars.next().map(|(_, c)| c) {
                                Some('"') => break,
                                Some('\\') => match chars.next().map(|(_, c)| c) {
                                    Some('n') => value.push('\n'),
                                    Some(c @ ('\\' | '"')) => value.push(c),
                                    other => panic!("bad escape {other:?}: {line}"),
                                },
                                Some(c) => value.push(c),
                                None => panic!("unclosed value: {line}"),
                            }
                        }
                        assert!(labels.insert(std::mem::take(&mut key), value).is_none());
                        match chars.next() {
                            Some((_, ',')) => {}
                            Some((i, '}')) => break i,
                            other => panic!("bad separator {other:?}: {line}"),
                        }
                    }
                    c if c.is_ascii_alphanumeric() || c == '_' => key.push(c),
                    c => panic!("bad label name character {c:?}: {line}"),
                }
            };
            rest = &inner[end + 1..];
        }
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

/// The value of the sample `name` whose labels are exactly `labels`, if there is one.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .iter()
        .find(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| *v)
}

/// Like [`value`], for a sample that must be there.
fn must(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    value(samples, name, labels).unwrap_or_else(|| {
        panic!("no sample {name}{labels:?}; series of that name: {:?}", {
            samples
                .iter()
                .filter(|(n, _, _)| n == name)
                .map(|(_, l, _)| l)
                .collect::<Vec<_>>()
        })
    })
}

async fn scrape(gateway: &Gateway) -> String {
    let response = gateway.get("/metrics").await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn chat(prefix: &str, stream: bool) -> Value {
    json!({"model": format!("{prefix}-chat"), "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
        "messages": [{"role": "user", "content": "Hi there"}]})
}

/// Sends the mix to the `prefix` models; returns the `usage.media` the vision answer reported.
async fn send_the_mix(gateway: &Gateway, upstream: &FakeUpstream, prefix: &str) -> Value {
    let chat = |stream| chat(prefix, stream);
    for _ in 0..2 {
        let response = gateway.post_json("/v1/chat/completions", chat(false)).await;
        assert_eq!(response.status(), 200);
    }
    let response = gateway.post_json("/v1/chat/completions", chat(true)).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("[DONE]"));
    // A 400 for the model: `stream_options` without `stream`.
    let mut refused = chat(false);
    refused["stream_options"] = json!({"include_usage": true});
    expect_error(
        gateway.post_json("/v1/chat/completions", refused).await,
        400,
    )
    .await;
    // The upstream fails once; one attempt only, so the client gets a 502.
    upstream.push_modes([Mode::Fail(500)]);
    expect_error(
        gateway.post_json("/v1/chat/completions", chat(false)).await,
        502,
    )
    .await;
    // A model that does not exist: no model label (a client's string never becomes one).
    let mut unknown = chat(false);
    unknown["model"] = json!(format!("{prefix}-no-such-model"));
    expect_error(
        gateway.post_json("/v1/chat/completions", unknown).await,
        404,
    )
    .await;
    let response = gateway
        .post_json(
            "/v1/embeddings",
            json!({"model": format!("{prefix}-embed"), "input": ["a", "b", "c"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let video = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("video/testdata/colors_baseline.mp4"),
    )
    .unwrap();
    let data_url =
        |mime: &str, bytes: &[u8]| format!("data:{mime};base64,{}", BASE64.encode(bytes));
    let vision = json!({"model": format!("{prefix}-vision"), "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": data_url("image/png", &crate::media::png(128, 64))}},
        {"type": "input_audio", "input_audio": {"data": BASE64.encode(wav(16_000, 1, 1.0, None)), "format": "wav"}},
        {"type": "video_url", "video_url": {"url": data_url("video/mp4", &video)}}]}]});
    let response = gateway.post_json("/v1/chat/completions", vision).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let response = crate::audio::post(
        gateway,
        "/v1/audio/transcriptions",
        crate::audio::form(&format!("{prefix}-asr"), None, crate::audio::wav(16_000, 1)),
    )
    .await;
    assert_eq!(response.status(), 200);
    body["usage"]["media"].clone()
}

#[tokio::test]
async fn metrics_count_a_known_mix_exactly() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url(), "metrics")).await;
    let media = send_the_mix(&gateway, &upstream, "metrics").await;
    assert_eq!(media["images"], 1, "{media}");
    assert_eq!(media["video_frames"], 3, "3 s at 1 fps: {media}");

    let chat = [
        ("gen_ai_operation_name", "chat"),
        ("gen_ai_request_model", "metrics-chat"),
        ("gen_ai_response_model", "metrics-chat"),
        ("deployment", "primary"),
    ];
    const DURATION: &str = "gen_ai_server_request_duration_seconds";
    // A stream is counted when its body ends, which may be a moment after the client read it.
    let give_up = Instant::now() + Duration::from_secs(5);
    let samples = loop {
        let samples = parse(&scrape(&gateway).await);
        if value(&samples, &format!("{DURATION}_count"), &chat) == Some(3.0) {
            break samples;
        }
        assert!(Instant::now() < give_up, "the stream was never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let get = |name: &str, labels: &[(&str, &str)]| must(&samples, name, labels);
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut labels = chat.to_vec();
        labels.extend_from_slice(extra);
        labels
    };

    // Chat: two answers and a stream, 9 prompt and 8 completion tokens each.
    assert_eq!(get(&format!("{DURATION}_count"), &chat), 3.0);
    let input = with(&[("gen_ai_token_type", "input")]);
    let output = with(&[("gen_ai_token_type", "output")]);
    assert_eq!(get("gen_ai_client_token_usage_count", &input), 3.0);
    assert_eq!(get("gen_ai_client_token_usage_sum", &input), 27.0);
    assert_eq!(get("gen_ai_client_token_usage_sum", &output), 24.0);
    assert_eq!(
        get("gen_ai_server_time_to_first_token_seconds_count", &chat),
        1.0
    );
    assert_eq!(
        get("gen_ai_server_time_per_output_token_seconds_count", &chat),
        1.0
    );
    let mut inf = chat.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(get(&format!("{DURATION}_bucket"), &inf), 3.0);
    assert!(get(&format!("{DURATION}_sum"), &chat) > 0.0);

    // The failures: the 400 before any deployment, the 502 from the only one.
    for (status, code) in [("400", "invalid_request"), ("502", "bad_gateway")] {
        let failed = [
            ("gen_ai_operation_name", "chat"),
            ("gen_ai_request_model", "metrics-chat"),
            ("error_type", code),
        ];
        assert_eq!(get(&format!("{DURATION}_count"), &failed), 1.0, "{code}");
        let error = [
            ("route", "/v1/chat/completions"),
            ("status", status),
            ("code", code),
            ("gen_ai_request_model", "metrics-chat"),
        ];
        assert_eq!(get("omnigate_errors_total", &error), 1.0, "{code}");
    }
    let unknown = [
        ("route", "/v1/chat/completions"),
        ("status", "404"),
        ("code", "model_not_found"),
    ];
    assert!(get("omnigate_errors_total", &unknown) >= 1.0);
    assert!(
        !samples
            .iter()
            .any(|(_, labels, _)| labels.values().any(|v| v.contains("no-such-model"))),
        "a client's model name became a label"
    );

    // Embeddings: three inputs, two tokens each; no output tokens.
    let embed = [
        ("gen_ai_operation_name", "embeddings"),
        ("gen_ai_request_model", "metrics-embed"),
        ("gen_ai_response_model", "metrics-embed"),
        ("deployment", "0"),
    ];
    assert_eq!(get(&format!("{DURATION}_count"), &embed), 1.0);
    let mut embed_input = embed.to_vec();
    embed_input.push(("gen_ai_token_type", "input"));
    assert_eq!(get("gen_ai_client_token_usage_sum", &embed_input), 6.0);
    let mut embed_output = embed.to_vec();
    embed_output.push(("gen_ai_token_type", "output"));
    assert_eq!(
        value(&samples, "gen_ai_client_token_usage_count", &embed_output),
        None
    );

    // Media: what the answer reported, to the pixel, second and frame.
    let vision = [
        ("gen_ai_operation_name", "chat"),
        ("gen_ai_request_model", "metrics-vision"),
        ("gen_ai_response_model", "metrics-vision"),
        ("deployment", "0"),
    ];
    let pixels = media["image_pixels"].as_f64().unwrap();
    assert_eq!(pixels, (64 * 32 + 3 * 64 * 48) as f64, "{media}");
    assert_eq!(get("omnigate_media_image_pixels_sum", &vision), pixels);
    assert_eq!(get("omnigate_media_image_pixels_count", &vision), 1.0);
    let seconds = media["audio_seconds"].as_f64().unwrap();
    assert!((seconds - 1.0).abs() < 1e-3, "{media}");
    assert_eq!(get("omnigate_media_audio_seconds_sum", &vision), seconds);
    assert_eq!(get("omnigate_media_video_frames_sum", &vision), 3.0);
    let asr = [
        ("gen_ai_operation_name", "transcription"),
        ("gen_ai_request_model", "metrics-asr"),
        ("gen_ai_response_model", "metrics-asr"),
        ("deployment", "0"),
    ];
    assert_eq!(get(&format!("{DURATION}_count"), &asr), 1.0);
    let heard = get("omnigate_media_audio_seconds_sum", &asr);
    assert!((heard - 1.0).abs() < 1e-3, "{heard}");

    // Gauges, read at scrape time: nothing in flight or queued, the deployment healthy, its
    // connections pooled.
    let primary = [("model", "metrics-chat"), ("deployment", "primary")];
    assert_eq!(get("omnigate_deployment_in_flight", &primary), 0.0);
    assert_eq!(
        get(
            "omnigate_model_queued_requests",
            &[("model", "metrics-chat")]
        ),
        0.0
    );
    let mut healthy = primary.to_vec();
    healthy.push(("state", "healthy"));
    assert_eq!(get("omnigate_deployment_state", &healthy), 1.0);
    let mut ejected = primary.to_vec();
    ejected.push(("state", "ejected"));
    assert_eq!(get("omnigate_deployment_state", &ejected), 0.0);
    let opened = get("omnigate_upstream_connections_opened_total", &primary);
    assert!(
        (1.0..=5.0).contains(&opened),
        "pooled: {opened} connections for 5 requests"
    );
    assert!(get("omnigate_upstream_connections", &primary) <= opened);
    assert!(get("omnigate_media_decode_slots", &[]) >= 1.0);
    assert_eq!(get("omnigate_media_decode_busy", &[]), 0.0);
}

/// Metric families (`# TYPE` lines) of a scrape.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_scrape_is_valid_exposition_text_with_every_metric_the_dashboard_queries() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url(), "dashboard")).await;
    send_the_mix(&gateway, &upstream, "dashboard").await;
    let ttft = [
        ("gen_ai_operation_name", "chat"),
        ("gen_ai_request_model", "dashboard-chat"),
        ("gen_ai_response_model", "dashboard-chat"),
        ("deployment", "primary"),
    ];
    let give_up = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = scrape(&gateway).await;
        let samples = parse(&text);
        if value(
            &samples,
            "gen_ai_server_time_to_first_token_seconds_count",
            &ttft,
        )
        .is_some()
        {
            break text;
        }
        assert!(Instant::now() < give_up, "the stream was never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    crate::metrics_dashboard::promtool_accepts(&text);
    let present = families(&text);
    let used = crate::metrics_dashboard::dashboard_metrics();
    assert!(used.len() >= 15, "{used:?}");
    let missing: Vec<_> = used.iter().filter(|m| !present.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics /metrics lacks: {missing:?}"
    );
}
