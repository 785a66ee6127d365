//! OpenAI's published response schemas (`gateway/tests/openai_schemas/schemas.json`) hold for
//! every answer the gateway builds itself in front of an upstream: the model list and a model,
//! transcripts in each JSON format and streamed, and every error the gateway makes, down to an
//! error event that ends a stream. One gateway serves them all; one Python run validates them.
//! Answers relayed from an upstream are the upstream's and are not checked here; the embedded
//! models' answers (chat, streams, embeddings, Whisper's segments) are checked by
//! `gateway/tests/embedded/openai_schemas.rs`.

use crate::common::{Gateway, config_for, wav};
use crate::schema_answers::{Answers, run_validator, sse_events};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnigate_testkit::{FakeUpstream, Mode};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::time::Duration;

const OPERATOR: &str = "sk-operator";
const ADMIN: &str = "sk-admin";

/// Every kind of model (chat, embeddings, media, speech) over `upstream`, operator and admin
/// keys, virtual keys that are refused in each way, and a 256 KiB body limit.
fn config(upstream: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
api_keys = ["{OPERATOR}"]
admin_api_keys = ["{ADMIN}"]
max_body_bytes = 262144

[models.chat]
[[models.chat.deployments]]
kind = "openai"
base_url = "{upstream}"
timeout_secs = 1.0

[models.embed]
tasks = ["embeddings"]
[[models.embed.deployments]]
kind = "openai"
base_url = "{upstream}"

[models.vision]
modalities = ["text", "image", "audio"]
[[models.vision.deployments]]
kind = "openai"
base_url = "{upstream}"

[models.asr]
tasks = ["transcription"]
modalities = ["audio"]
[[models.asr.deployments]]
kind = "openai"
base_url = "{upstream}"

[[keys]]
id = "chat-only"
secret = "sk-og-chat-only"
models = ["chat"]

[[keys]]
id = "expired"
secret = "sk-og-expired"
expires_at = 1000000000

[[keys]]
id = "disabled"
secret = "sk-og-disabled"
disabled = true

[[keys]]
id = "one-a-minute"
secret = "sk-og-one-a-minute"
limits = {{ requests_per_minute = 1 }}
"#
    )
}

/// Requests with a key, to one gateway.
struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        if key.is_empty() {
            builder
        } else {
            builder.bearer_auth(key)
        }
    }

    async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path, key)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path, key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn chat(&self, key: &str, body: Value) -> reqwest::Response {
        self.post("/v1/chat/completions", key, body).await
    }

    async fn transcribe(&self, form: Form) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/v1/audio/transcriptions", OPERATOR)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hi there"}]})
}

/// A chat request to `vision` with one media part.
fn media_chat(part: Value) -> Value {
    json!({"model": "vision", "messages": [{"role": "user", "content": [part]}]})
}

fn image(mime: &str, bytes: &[u8]) -> Value {
    json!({"type": "image_url",
        "image_url": {"url": format!("data:{mime};base64,{}", BASE64.encode(bytes))}})
}

fn speech_form(model: &str, format: &str, stream: bool) -> Form {
    let form = Form::new()
        .part(
            "file",
            Part::bytes(wav(16_000, 1, 1.0, None)).file_name("clip.wav"),
        )
        .text("model", model.to_owned())
        .text("response_format", format.to_owned());
    if stream {
        form.text("stream", "true")
    } else {
        form
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_the_gateway_builds_matches_openai_schemas() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url())).await;
    let client = Client {
        base: format!("http://{}", gateway.addr),
        http: reqwest::Client::new(),
    };
    let mut answers = Answers::default();

    let list = client.get("/v1/models", OPERATOR).await;
    let list = answers
        .json("ListModelsResponse", "models", 200, list)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 4, "{list}");
    let restricted = client.get("/v1/models", "sk-og-chat-only").await;
    answers
        .json(
            "ListModelsResponse",
            "models seen by a key",
            200,
            restricted,
        )
        .await;
    let model = client.get("/v1/models/asr", OPERATOR).await;
    answers.json("Model", "model", 200, model).await;

    transcripts(&client, &mut answers).await;
    request_errors(&client, &mut answers).await;
    media_errors(&client, &mut answers).await;
    key_errors(&client, &mut answers).await;
    upstream_errors(&client, &upstream, &mut answers).await;
    shed(&upstream, &mut answers).await;
    answers.validate();
}

/// Transcripts are rendered here from what the upstream recognized, in each format with a
/// schema (`text`, `srt` and `vtt` are not JSON), whole and streamed.
async fn transcripts(client: &Client, answers: &mut Answers) {
    let json = client.transcribe(speech_form("asr", "json", false)).await;
    answers
        .json(
            "CreateTranscriptionResponseJson",
            "transcript json",
            200,
            json,
        )
        .await;
    let verbose = client
        .transcribe(speech_form("asr", "verbose_json", false))
        .await;
    let verbose = answers
        .json(
            "CreateTranscriptionResponseVerboseJson",
            "transcript verbose_json",
            200,
            verbose,
        )
        .await;
    // The fake reports Whisper's decoding details per segment, so segments are listed.
    assert_eq!(
        verbose["segments"].as_array().unwrap().len(),
        2,
        "{verbose}"
    );
    let stream = client.transcribe(speech_form("asr", "json", true)).await;
    let (events, done) = answers
        .stream("transcript stream", stream, |i, n| {
            if i + 1 < n {
                "TranscriptTextDeltaEvent"
            } else {
                "TranscriptTextDoneEvent"
            }
        })
        .await;
    assert!(!done, "transcription streams have no [DONE]");
    assert!(events.len() >= 2, "{events:?}");
}

/// Requests the gateway refuses before any backend sees them.
async fn request_errors(client: &Client, answers: &mut Answers) {
    let bad_json = client
        .request(reqwest::Method::POST, "/v1/chat/completions", OPERATOR)
        .header("content-type", "application/json")
        .body("{\"model\": \"chat\", \"messages\": [")
        .send()
        .await
        .unwrap();
    answers.error("bad JSON", 400, bad_json).await;
    let wrong_type = json!({"model": "chat", "messages": "hi", "temperature": "hot"});
    let wrong_type = client.chat(OPERATOR, wrong_type).await;
    answers.error("wrong type", 400, wrong_type).await;
    let no_input = client
        .post(
            "/v1/embeddings",
            OPERATOR,
            json!({"model": "embed", "input": []}),
        )
        .await;
    answers.error("empty embeddings input", 400, no_input).await;
    let unknown = client.chat(OPERATOR, chat("nope")).await;
    answers.error("unknown model", 404, unknown).await;
    let unknown = client.get("/v1/models/nope", OPERATOR).await;
    answers.error("unknown model retrieved", 404, unknown).await;
    let embed_from_chat = json!({"model": "chat", "input": "x"});
    let wrong_task = client
        .post("/v1/embeddings", OPERATOR, embed_from_chat)
        .await;
    answers.error("wrong task", 422, wrong_task).await;
    let wrong_task = client.transcribe(speech_form("chat", "json", false)).await;
    answers
        .error("wrong task (speech to a chat model)", 422, wrong_task)
        .await;
    let no_file = client.transcribe(Form::new().text("model", "asr")).await;
    answers
        .error("transcription without a file", 400, no_file)
        .await;
    let bad_format = client.transcribe(speech_form("asr", "xml", false)).await;
    answers
        .error("unknown response_format", 400, bad_format)
        .await;
    let unknown_path = client.get("/v2/everything", OPERATOR).await;
    answers.error("unknown path", 404, unknown_path).await;
    let wrong_method = client.get("/v1/chat/completions", OPERATOR).await;
    answers.error("wrong method", 405, wrong_method).await;
    let not_json = client
        .request(reqwest::Method::POST, "/v1/chat/completions", OPERATOR)
        .header("content-type", "text/plain")
        .body(chat("chat").to_string())
        .send()
        .await
        .unwrap();
    answers.error("unsupported media type", 415, not_json).await;
    let big =
        json!({"model": "chat", "messages": [{"role": "user", "content": "x".repeat(300_000)}]});
    let big = client.chat(OPERATOR, big).await;
    answers.error("body over the limit", 413, big).await;
}

/// Media refused by the gateway's media pass.
async fn media_errors(client: &Client, answers: &mut Answers) {
    let picture = crate::media::png(16, 16);
    let text_only = client
        .chat(
            OPERATOR,
            json!({"model": "chat", "messages": [{"role": "user",
            "content": [image("image/png", &picture)]}]}),
        )
        .await;
    answers
        .error("media for a text-only model", 400, text_only)
        .await;
    let bad_base64 = media_chat(json!({"type": "input_audio",
        "input_audio": {"data": "%%%", "format": "wav"}}));
    let bad_base64 = client.chat(OPERATOR, bad_base64).await;
    answers.error("bad base64", 400, bad_base64).await;
    let ten_hours = wav(16_000, 1, 0.01, Some(16_000 * 36_000));
    let too_long = media_chat(json!({"type": "input_audio",
        "input_audio": {"data": BASE64.encode(ten_hours), "format": "wav"}}));
    let too_long = client.chat(OPERATOR, too_long).await;
    answers.error("media over a limit", 413, too_long).await;
    let corrupt = media_chat(image("image/png", &picture[..picture.len() / 2]));
    let corrupt = client.chat(OPERATOR, corrupt).await;
    answers.error("corrupt media", 422, corrupt).await;
    let sound_as_picture = media_chat(image("image/png", &wav(8000, 1, 0.1, None)));
    let unsupported = client.chat(OPERATOR, sound_as_picture).await;
    answers.error("unsupported media", 415, unsupported).await;
}

/// Keys refused in every way: none, wrong, expired, disabled, another model, not an admin,
/// over a limit; and the admin API's own refusals.
async fn key_errors(client: &Client, answers: &mut Answers) {
    let refusals = [
        ("no key", "", 401),
        ("wrong key", "sk-wrong", 401),
        ("expired key", "sk-og-expired", 401),
        ("disabled key", "sk-og-disabled", 401),
    ];
    for (label, key, status) in refusals {
        let response = client.chat(key, chat("chat")).await;
        answers.error(label, status, response).await;
    }
    let other_model = client
        .post(
            "/v1/embeddings",
            "sk-og-chat-only",
            json!({"model": "embed", "input": "x"}),
        )
        .await;
    answers
        .error("model outside the key's list", 403, other_model)
        .await;
    let not_admin = client.get("/admin/keys", OPERATOR).await;
    answers
        .error("admin view without an admin key", 403, not_admin)
        .await;
    let first = client.chat("sk-og-one-a-minute", chat("chat")).await;
    assert_eq!(first.status(), 200);
    let limited = client.chat("sk-og-one-a-minute", chat("chat")).await;
    answers.error("key over its limit", 429, limited).await;
    let no_such_key = client.get("/admin/keys/nope", ADMIN).await;
    answers.error("unknown key id", 404, no_such_key).await;
    let declared = client
        .request(reqwest::Method::DELETE, "/admin/keys/expired", ADMIN)
        .send()
        .await
        .unwrap();
    answers.error("declared key changed", 409, declared).await;
}

/// Failures of the upstream, answered by the gateway in its own words: bad gateway, timeout,
/// a refusal relayed, a stream cut by a stall, retry later. Ordered so that no failure
/// changes how the next is answered (a `retry-after` cools the deployment down, so it is last).
async fn upstream_errors(client: &Client, upstream: &FakeUpstream, answers: &mut Answers) {
    let failures = [
        ("upstream failed", Mode::Fail(500), 502),
        ("upstream refused", Mode::Fail(400), 400),
        ("upstream said garbage", Mode::Garbage, 502),
        ("upstream timed out", Mode::Hang, 504),
    ];
    for (label, mode, status) in failures {
        upstream.set_mode(mode);
        let response = client.chat(OPERATOR, chat("chat")).await;
        answers.error(label, status, response).await;
    }
    upstream.set_mode(Mode::Normal);
    upstream.hold_streams_after(2);
    let body = json!({"model": "chat", "stream": true,
        "messages": [{"role": "user", "content": "Hi there"}]});
    let response = client.chat(OPERATOR, body).await;
    assert_eq!(response.status(), 200);
    let (events, done) = sse_events(&response.text().await.unwrap());
    assert!(!done, "a cut stream has no [DONE]");
    // The relayed events are the upstream's; the last one is the gateway's.
    let last = events.last().unwrap().clone();
    assert!(last.get("error").is_some(), "{events:?}");
    answers.push("ErrorResponse", "error event ending a stream", last);
    upstream.set_mode(Mode::FailWithRetryAfter {
        status: 503,
        retry_after_secs: 1,
    });
    let busy = client.chat(OPERATOR, chat("chat")).await;
    answers.error("upstream busy", 503, busy).await;
}

/// A request over `server.max_concurrent_requests`, shed. On a gateway of its own: a slot is
/// freed only once the server has dropped the answer's body, a moment after the client has
/// read it, so a one-slot gateway could shed the requests above that follow one another.
async fn shed(upstream: &FakeUpstream, answers: &mut Answers) {
    let config = config_for(&upstream.base_url(), "max_concurrent_requests = 1");
    let gateway = Gateway::from_toml(&config).await;
    let client = Client {
        base: format!("http://{}", gateway.addr),
        http: reqwest::Client::new(),
    };
    upstream.set_mode(Mode::Delay(Duration::from_millis(600)));
    let slow = client.chat("", chat("chat"));
    let shed = async {
        // Let the first request take the only slot.
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.chat("", chat("chat")).await
    };
    let (slow, shed) = tokio::join!(slow, shed);
    assert_eq!(slow.status(), 200);
    answers.error("shed", 429, shed).await;
}

/// The validator is strict: answers with the gaps typed clients trip on are reported, each
/// with its label and JSON path, and a `nullable` field still takes null.
#[test]
fn the_validator_reports_what_typed_clients_reject() {
    let chat = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "hi"}}]});
    let segment = json!({"id": 0, "start": 0.0, "end": 1.0, "text": "hi"});
    let verbose = json!({"language": "en", "duration": 1.0, "text": "hi", "segments": [segment]});
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": null, "logprobs": null}],
        "usage": null});
    let items = [
        json!({"schema": "CreateChatCompletionResponse", "label": "chat", "value": chat}),
        json!({"schema": "CreateTranscriptionResponseVerboseJson", "label": "verbose",
            "value": verbose}),
        json!({"schema": "ErrorResponse", "label": "error",
            "value": {"error": {"message": "m", "type": "t", "code": null}}}),
        json!({"schema": "CreateChatCompletionStreamResponse", "label": "chunk",
            "value": chunk}),
    ];
    let report = run_validator(&items);
    assert!(!report.success, "{}{}", report.stdout, report.stderr);
    for expected in [
        "$.choices[0]: 'logprobs' is a required property",
        "$.choices[0].message: 'refusal' is a required property",
        "$.segments[0]: 'no_speech_prob' is a required property",
        "$.error: 'param' is a required property",
    ] {
        assert!(
            report.stdout.contains(expected),
            "{expected}:\n{}",
            report.stdout
        );
    }
    assert!(
        !report.stdout.contains("chunk"),
        "null where the schema says nullable is valid:\n{}",
        report.stdout
    );
}
