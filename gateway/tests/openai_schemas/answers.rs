//! Answers collected over HTTP for the OpenAI schema suite, then validated all at once by
//! `validate.py` (one interpreter start for the lot) against the vendored `schemas.json`.
//! Shared by the `api` and `embedded` test binaries (`#[path]`-included by both).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Answers waiting to be validated: `(schema, label, value)` each.
#[derive(Default)]
pub struct Answers {
    items: Vec<Value>,
}

impl Answers {
    /// Adds `value`, to be checked against `#/components/schemas/{schema}`.
    pub fn push(&mut self, schema: &str, label: impl Into<String>, value: Value) {
        self.items
            .push(json!({"schema": schema, "label": label.into(), "value": value}));
    }

    /// Adds a JSON answer after checking its status and content type; returns the body.
    pub async fn json(
        &mut self,
        schema: &str,
        label: &str,
        status: u16,
        response: reqwest::Response,
    ) -> Value {
        let got = response.status().as_u16();
        let content_type = header(&response, "content-type");
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{label}: {text}");
        assert!(
            content_type.starts_with("application/json"),
            "{label}: content-type {content_type:?}"
        );
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{label}: {e}: {text}"));
        self.push(schema, label, value.clone());
        value
    }

    /// Adds an error answer (OpenAI's `ErrorResponse`) with `status`; returns its `error`.
    pub async fn error(&mut self, label: &str, status: u16, response: reqwest::Response) -> Value {
        self.json("ErrorResponse", label, status, response).await["error"].clone()
    }

    /// Adds every event of a server-sent-event answer, the `i`-th of `n` checked against
    /// `schema(i, n)`; returns the events and whether the stream ended with `data: [DONE]`.
    pub async fn stream(
        &mut self,
        label: &str,
        response: reqwest::Response,
        schema: impl Fn(usize, usize) -> &'static str,
    ) -> (Vec<Value>, bool) {
        let status = response.status().as_u16();
        let content_type = header(&response, "content-type");
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "{label}: {text}");
        assert!(
            content_type.starts_with("text/event-stream"),
            "{label}: content-type {content_type:?}"
        );
        let (events, done) = sse_events(&text);
        assert!(!events.is_empty(), "{label}: no events in {text:?}");
        for (i, event) in events.iter().enumerate() {
            self.push(
                schema(i, events.len()),
                format!("{label}, event {i}"),
                event.clone(),
            );
        }
        (events, done)
    }

    /// Validates every answer in one run of `validate.py`; panics with every violation (label
    /// and JSON path) if there is one. Blocks while the interpreter runs.
    pub fn validate(self) {
        let output = run_validator(&self.items);
        let expected = format!("validated {} answers", self.items.len());
        assert!(
            output.success && output.stdout.contains(&expected),
            "OpenAI schema violations (interpreter {}; `.ci/test` prepares it):\n{}\n{}",
            python(),
            output.stdout,
            output.stderr
        );
    }
}

/// What a run of the validator printed.
pub struct Validation {
    /// Whether every answer passed.
    pub success: bool,
    /// The report: violations, or counts per schema.
    pub stdout: String,
    /// The interpreter's own complaints.
    pub stderr: String,
}

/// Runs `validate.py` on `items` (`{schema, label, value}` objects).
pub fn run_validator(items: &[Value]) -> Validation {
    let file = std::env::temp_dir().join(format!(
        "omnigate-openai-answers-{}-{}.json",
        std::process::id(),
        next_file_number()
    ));
    std::fs::write(&file, serde_json::to_vec(items).unwrap()).unwrap();
    let output = Command::new(python())
        .arg(dir().join("validate.py"))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run the tests with .ci/test", python()));
    let _ = std::fs::remove_file(&file);
    Validation {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `data:` events of an SSE body as JSON, and whether `data: [DONE]` ended it.
pub fn sse_events(text: &str) -> (Vec<Value>, bool) {
    let mut events = Vec::new();
    let mut done = false;
    for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        assert!(!done, "an event after [DONE]: {text}");
        if data == "[DONE]" {
            done = true;
        } else {
            events.push(serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")));
        }
    }
    (events, done)
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// This suite's folder: `schemas.json`, `validate.py`, `extract.py`.
fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_schemas")
}

/// The Python interpreter with the test packages (`jsonschema` comes with the OpenAPI validator).
fn python() -> String {
    std::env::var("OMNIGATE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Distinguishes files of tests running at once in one process.
fn next_file_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
