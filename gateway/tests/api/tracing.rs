//! Traces, end to end, in the real binary (the OpenTelemetry subscriber is process-wide, so
//! each test runs its own `omnigate serve`): spans exported over OTLP/HTTP to a real receiver
//! (`oteltap`, OpenTelemetry's protobuf definitions, from the test venv) and checked as a tree;
//! the client's `traceparent` honoured (parent-based sampling at ratio 0) and the try's span
//! sent upstream as the next `traceparent`. `tracing/grpc.rs` does the same over OTLP/gRPC.

mod grpc;

use crate::media::png;
use omnigate_testkit::{FakeUpstream, Mode};
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `omnigate serve` with `config` (its `bind` is `127.0.0.1:{port}`), up and answering.
async fn start_gateway(port: u16, config: &str, env: &[(&str, &str)]) -> Killed {
    let dir = std::env::temp_dir().join(format!("omnigate-traces-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("omnigate.toml");
    std::fs::write(&path, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnigate"));
    command.args(["serve", "--config"]).arg(&path);
    // The test's own OpenTelemetry environment must not leak into the gateway under test.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")) {
        command.env_remove(name);
    }
    let gateway = Killed(
        command
            .env("RUST_LOG", "warn")
            // Export every 100 ms rather than every 5 s (the batch processor's standard knob).
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .envs(env.iter().copied())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let up = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if up {
            return gateway;
        }
        assert!(Instant::now() < give_up, "the gateway never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A real OTLP/HTTP receiver (`python -m oteltap`), every span it prints kept.
struct Oteltap {
    port: u16,
    spans: Arc<Mutex<Vec<Value>>>,
    _process: Killed,
}

impl Oteltap {
    fn start() -> Self {
        let port = free_port();
        let python = crate::python_sdk::python();
        let mut child = Command::new(&python)
            .args(["-m", "oteltap", "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run the tests with .ci/test"));
        let stdout = child.stdout.take().unwrap();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let (ready, listening) = std::sync::mpsc::channel();
        let kept = Arc::clone(&spans);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("Listening") {
                    let _ = ready.send(());
                } else if let Ok(span) = serde_json::from_str::<Value>(&line) {
                    kept.lock().unwrap().push(span);
                }
            }
        });
        if listening.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "oteltap did not start (interpreter {python}; `.ci/test` installs it from \
                 .ci/requirements-test.txt): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Self {
            port,
            spans,
            _process: Killed(child),
        }
    }

    /// Waits (up to 20 s) until `done` holds of the spans of trace `trace_id`, and returns them.
    async fn trace(&self, trace_id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let give_up = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans_of(trace_id);
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < give_up,
                "trace {trace_id} incomplete; received: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn spans_of(&self, trace_id: &str) -> Vec<Value> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|s| s["traceId"] == trace_id)
            .cloned()
            .collect()
    }
}

/// A span's attribute as JSON (`intValue`s come as strings in OTLP's JSON: made numbers here).
fn attr(span: &Value, key: &str) -> Value {
    let Some(value) = span["attributes"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["key"] == key))
        .map(|a| &a["value"])
    else {
        return Value::Null;
    };
    if let Some(int) = value["intValue"].as_str() {
        return json!(int.parse::<i64>().unwrap());
    }
    ["stringValue", "doubleValue", "boolValue"]
        .iter()
        .find_map(|kind| value.get(*kind).cloned())
        .unwrap_or(Value::Null)
}

/// The one span named `name` under `parent`.
fn child<'a>(spans: &'a [Value], parent: &Value, name: &str) -> &'a Value {
    let found = children(spans, parent, name);
    assert_eq!(
        found.len(),
        1,
        "one `{name}` under `{}`: {spans:#?}",
        parent["name"]
    );
    found[0]
}

fn children<'a>(spans: &'a [Value], parent: &Value, name: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|s| s["parentSpanId"] == parent["spanId"] && s["name"] == name)
        .collect()
}

/// Whether the request's span (the one under the client's span `parent`) has arrived: it ends
/// last, so then every span of the request has.
fn rooted_at(parent: String) -> impl Fn(&[Value]) -> bool {
    move |spans| spans.iter().any(|s| s["parentSpanId"] == parent.as_str())
}

fn nanos(span: &Value, field: &str) -> u128 {
    span[field].as_str().unwrap().parse().unwrap()
}

/// The span lies within `parent`'s time.
fn within(span: &Value, parent: &Value) {
    assert!(nanos(span, "startTimeUnixNano") >= nanos(parent, "startTimeUnixNano"));
    assert!(nanos(span, "endTimeUnixNano") <= nanos(parent, "endTimeUnixNano"));
}

const SERVER: i64 = 2;

/// A fresh W3C trace id and parent span id, as a client would make them.
fn client_ids() -> (String, String) {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        ^ (u128::from(call) << 96);
    let trace = format!("{:032x}", nanos ^ (u128::from(std::process::id()) << 64));
    let parent = format!("{:016x}", (nanos as u64).rotate_left(17) | 1);
    (trace, parent)
}

/// The gateway under test: model `vision` (pictures shaped to 64 px, videos as their frames)
/// and model `queued` (one request at a time), both in front of `upstream`; traces to
/// `otlp_port` over HTTP, new traces never sampled (ratio 0), so only clients' decisions count.
fn config(port: u16, upstream: &FakeUpstream, otlp_port: u16) -> String {
    let upstream = upstream.base_url();
    format!(
        r#"
[server]
bind = "127.0.0.1:{port}"
[media.fetch]
allow_hosts = ["127.0.0.1"]
[telemetry]
enabled = true
otlp_endpoint = "http://127.0.0.1:{otlp_port}"
protocol = "http"
sampling_ratio = 0.0
[models.vision]
modalities = ["text", "image"]
[models.vision.image]
max_side = 64
[[models.vision.deployments]]
kind = "openai"
name = "primary"
base_url = "{upstream}"
[models.queued]
[[models.queued.deployments]]
kind = "openai"
name = "only"
base_url = "{upstream}"
max_in_flight = 1
"#
    )
}

/// Serves `/cat.png` and `/clip.mp4` on a loopback port.
async fn media_server(picture: Vec<u8>, clip: Vec<u8>) -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route(
            "/cat.png",
            axum::routing::get(move || async move { picture }),
        )
        .route("/clip.mp4", axum::routing::get(move || async move { clip }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn chat(port: u16, traceparent: &str, body: Value) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .header("traceparent", traceparent)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_with_a_picture_and_a_video_is_one_trace_under_the_clients_span() {
    let upstream = FakeUpstream::start().await;
    let otlp = Oteltap::start();
    let picture = png(320, 200);
    let clip = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("video/testdata/colors_baseline.mp4"),
    )
    .unwrap();
    let media = media_server(picture.clone(), clip.clone()).await;
    let port = free_port();
    let _gateway = start_gateway(port, &config(port, &upstream, otlp.port), &[]).await;

    // First a request whose client decided not to sample: its trace id still travels upstream.
    let (unsampled, unsampled_parent) = client_ids();
    let text = json!({"model": "vision", "messages": [{"role": "user", "content": "Hi"}]});
    chat(port, &format!("00-{unsampled}-{unsampled_parent}-00"), text).await;

    let (trace, client_span) = client_ids();
    let body = json!({"model": "vision", "stream": true, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What happens here?"},
        {"type": "image_url", "image_url": {"url": format!("http://{media}/cat.png")}},
        {"type": "video_url", "video_url": {"url": format!("http://{media}/clip.mp4")}}]}]});
    let answer = chat(port, &format!("00-{trace}-{client_span}-01"), body).await;
    assert!(answer.ends_with("data: [DONE]\n\n"), "{answer}");

    let spans = otlp.trace(&trace, rooted_at(client_span.clone())).await;
    let root = spans
        .iter()
        .find(|s| s["parentSpanId"] == client_span)
        .unwrap();
    assert_eq!(root["name"], "POST /v1/chat/completions");
    assert_eq!(root["kind"], SERVER);
    assert_eq!(attr(root, "http.request.method"), "POST");
    assert_eq!(attr(root, "http.route"), "/v1/chat/completions");
    assert_eq!(attr(root, "http.response.status_code"), 200);

    let parse = child(&spans, root, "parse");
    assert!(attr(parse, "http.request.body.size").as_i64().unwrap() > 100);
    within(parse, root);

    let fetches = children(&spans, root, "media.fetch");
    let decodes = children(&spans, root, "media.decode");
    assert_eq!((fetches.len(), decodes.len()), (2, 2), "{spans:#?}");
    let by_kind = |list: &[&Value], kind: &str| -> Value {
        (*list.iter().find(|s| attr(s, "kind") == kind).unwrap()).clone()
    };
    let image_fetch = by_kind(&fetches, "image");
    assert_eq!(attr(&image_fetch, "param"), "messages[0].content[1]");
    assert_eq!(attr(&image_fetch, "source"), "http");
    assert_eq!(attr(&image_fetch, "bytes"), picture.len());
    let image = by_kind(&decodes, "image");
    assert_eq!(attr(&image, "format"), "png");
    assert_eq!(attr(&image, "bytes"), picture.len());
    assert_eq!(
        (attr(&image, "width"), attr(&image, "height")),
        (json!(320), json!(200))
    );
    assert_eq!(
        attr(&image, "pixels"),
        64 * 40,
        "320×200 shaped to fit 64 px"
    );
    assert!(nanos(&image_fetch, "endTimeUnixNano") <= nanos(&image, "startTimeUnixNano"));
    let video_fetch = by_kind(&fetches, "video");
    assert_eq!(attr(&video_fetch, "param"), "messages[0].content[2]");
    assert_eq!(attr(&video_fetch, "bytes"), clip.len());
    let video = by_kind(&decodes, "video");
    assert_eq!(attr(&video, "format"), "h264");
    assert_eq!(
        (attr(&video, "width"), attr(&video, "height")),
        (json!(160), json!(120))
    );
    assert!(
        (attr(&video, "seconds").as_f64().unwrap() - 3.0).abs() < 0.2,
        "{video}"
    );
    let frames = attr(&video, "frames").as_i64().unwrap();
    assert_eq!(frames, 3, "one frame a second of a 3 s clip");
    assert_eq!(attr(&video, "pixels"), frames * 64 * 48);
    for span in fetches.iter().chain(&decodes) {
        within(span, root);
    }

    let dispatch = child(&spans, root, "dispatch");
    assert_eq!(attr(dispatch, "model"), "vision");
    assert_eq!(attr(dispatch, "fallback"), false);
    let attempt = child(&spans, dispatch, "attempt");
    assert_eq!(attr(attempt, "deployment"), "primary");
    assert_eq!(attr(attempt, "attempt"), 1);
    assert_eq!(attr(attempt, "outcome"), "ok");
    assert_eq!(attr(attempt, "http.response.status_code"), 200);
    assert!(
        children(&spans, dispatch, "queue.wait").is_empty(),
        "nothing waited"
    );
    let first_token = child(&spans, attempt, "first_token");
    within(first_token, attempt);
    within(attempt, dispatch);
    assert!(nanos(&video, "endTimeUnixNano") <= nanos(dispatch, "startTimeUnixNano"));

    // The upstream saw the trace, with the try's span as its parent, sampled.
    let sent: Vec<Option<String>> = upstream
        .requests()
        .into_iter()
        .map(|r| r.traceparent)
        .collect();
    let expected = format!("00-{trace}-{}-01", attempt["spanId"].as_str().unwrap());
    assert!(
        sent.contains(&Some(expected.clone())),
        "{expected} not in {sent:?}"
    );
    let not_sampled = sent.iter().flatten().find(|t| t.contains(&unsampled));
    assert!(
        not_sampled.is_some_and(|t| t.ends_with("-00") && !t.contains(&unsampled_parent)),
        "the unsampled trace travels on, flagged so: {sent:?}"
    );
    // ... and nothing of it was exported, though it was served before the sampled one.
    assert!(otlp.spans_of(&unsampled).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_a_full_deployment_has_a_queue_wait_span() {
    let upstream = FakeUpstream::start().await;
    upstream.set_mode(Mode::Delay(Duration::from_millis(400)));
    let otlp = Oteltap::start();
    let port = free_port();
    let _gateway = start_gateway(port, &config(port, &upstream, otlp.port), &[]).await;
    let body = json!({"model": "queued", "messages": [{"role": "user", "content": "Hi"}]});
    let (first, first_parent) = client_ids();
    let (second, second_parent) = client_ids();
    let (first_header, second_header) = (
        format!("00-{first}-{first_parent}-01"),
        format!("00-{second}-{second_parent}-01"),
    );
    let one = chat(port, &first_header, body.clone());
    let two = async {
        // Second in line: the only slot is taken by then.
        tokio::time::sleep(Duration::from_millis(100)).await;
        chat(port, &second_header, body.clone()).await
    };
    tokio::join!(one, two);
    let first_spans = otlp.trace(&first, rooted_at(first_parent)).await;
    let second_spans = otlp.trace(&second, rooted_at(second_parent)).await;
    let dispatch = |spans: &[Value]| -> Value {
        (*spans.iter().find(|s| s["name"] == "dispatch").unwrap()).clone()
    };
    let first_dispatch = dispatch(&first_spans);
    assert!(children(&first_spans, &first_dispatch, "queue.wait").is_empty());
    let second_dispatch = dispatch(&second_spans);
    let wait = child(&second_spans, &second_dispatch, "queue.wait");
    assert_eq!(attr(wait, "outcome"), "freed");
    assert_eq!(attr(wait, "queued"), 0, "nobody was waiting before it");
    let waited = nanos(wait, "endTimeUnixNano") - nanos(wait, "startTimeUnixNano");
    assert!(
        waited >= 200_000_000,
        "it waited for the first answer: {waited} ns"
    );
    let attempt = child(&second_spans, &second_dispatch, "attempt");
    assert!(nanos(wait, "endTimeUnixNano") <= nanos(attempt, "startTimeUnixNano"));
    assert_eq!(attr(attempt, "deployment"), "only");
}

/// With traces off (the default; the in-process gateway never installs them), nothing is
/// propagated upstream.
#[tokio::test]
async fn with_traces_off_no_traceparent_goes_upstream() {
    let upstream = FakeUpstream::start().await;
    let gateway = crate::common::Gateway::start(&upstream).await;
    let response = gateway
        .client
        .post(gateway.url("/v1/chat/completions"))
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&crate::common::chat_body("chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.last_request().traceparent, None);
}
