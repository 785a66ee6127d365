//! Speech-to-text endpoints through the real server: multipart in, the upload decoded and
//! resampled before the upstream sees it, every response_format out.

use crate::common::{Gateway, expect_error};
use omnigate_testkit::{FakeUpstream, TRANSCRIPT};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

fn asr_config(upstream: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
[models.asr]
tasks = ["transcription"]
modalities = ["audio"]
[[models.asr.deployments]]
kind = "openai"
base_url = "{upstream}"
model = "whisper-1"
[models.chat]
[[models.chat.deployments]]
kind = "openai"
base_url = "{upstream}"
"#
    )
}

/// One second of 440 Hz, 16-bit, at `rate` with `channels`.
pub fn wav(rate: u32, channels: u16) -> Vec<u8> {
    crate::common::wav(rate, channels, 1.0, None)
}

pub fn form(model: &str, format: Option<&str>, file: Vec<u8>) -> Form {
    let mut form = Form::new()
        .part("file", Part::bytes(file).file_name("clip.wav"))
        .text("model", model.to_owned());
    if let Some(format) = format {
        form = form.text("response_format", format.to_owned());
    }
    form
}

pub async fn post(gateway: &Gateway, path: &str, form: Form) -> reqwest::Response {
    gateway
        .client
        .post(gateway.url(path))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn transcription_in_every_response_format() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&asr_config(&upstream.base_url())).await;
    let path = "/v1/audio/transcriptions";

    let json: Value = post(&gateway, path, form("asr", None, wav(44_100, 2)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json["text"], TRANSCRIPT);
    // The sound consumed, as OpenAI reports it for duration-billed models: one second.
    assert_eq!(json["usage"]["type"], "duration");
    let seconds = json["usage"]["seconds"].as_f64().unwrap();
    assert!((seconds - 1.0).abs() < 0.01, "{seconds}");
    let sent = upstream.last_request().body;
    assert_eq!(sent["model"], "whisper-1");
    assert_eq!(
        sent["file_sample_rate"], 16_000,
        "resampled before the upstream"
    );
    assert_eq!(sent["file_channels"], 1, "downmixed before the upstream");

    let text = post(&gateway, path, form("asr", Some("text"), wav(16_000, 1))).await;
    assert!(
        text.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(text.text().await.unwrap(), format!("{TRANSCRIPT}\n"));

    let srt = post(&gateway, path, form("asr", Some("srt"), wav(16_000, 1)))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        srt.starts_with("1\n00:00:00,000 --> 00:00:00,500\nEver tried.\n\n2\n"),
        "{srt}"
    );
    let vtt = post(&gateway, path, form("asr", Some("vtt"), wav(16_000, 1)))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:00.500\nEver tried.\n"),
        "{vtt}"
    );

    let verbose: Value = post(
        &gateway,
        path,
        form("asr", Some("verbose_json"), wav(8_000, 1)),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(verbose["task"], "transcribe");
    assert!((verbose["duration"].as_f64().unwrap() - 1.0).abs() < 0.01);
    assert_eq!(verbose["segments"].as_array().unwrap().len(), 2);
    assert_eq!(verbose["usage"]["type"], "duration");
    assert!((verbose["usage"]["seconds"].as_f64().unwrap() - 1.0).abs() < 0.01);
}

#[tokio::test]
async fn translation_goes_to_the_translation_route() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&asr_config(&upstream.base_url())).await;
    let form = form("asr", Some("verbose_json"), wav(16_000, 1)).text("language", "de");
    let verbose: Value = post(&gateway, "/v1/audio/translations", form)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verbose["task"], "translate");
    assert_eq!(
        upstream.last_request().body.get("language"),
        None,
        "no source language on translations"
    );
}

#[tokio::test]
async fn transcription_errors() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&asr_config(&upstream.base_url())).await;
    let path = "/v1/audio/transcriptions";
    let error = expect_error(
        post(&gateway, path, form("chat", None, wav(16_000, 1))).await,
        422,
    )
    .await;
    assert_eq!(error["param"], "model");
    expect_error(
        post(&gateway, path, form("nope", None, wav(16_000, 1))).await,
        404,
    )
    .await;
    let no_file = Form::new().text("model", "asr");
    let error = expect_error(post(&gateway, path, no_file).await, 400).await;
    assert_eq!(error["param"], "file");
    let error = expect_error(
        post(&gateway, path, form("asr", Some("xml"), wav(16_000, 1))).await,
        400,
    )
    .await;
    assert_eq!(error["param"], "response_format");
    // Segment timing is what verbose_json carries; word timing is refused, not dropped.
    let segments = form("asr", Some("verbose_json"), wav(16_000, 1))
        .text("timestamp_granularities[]", "segment");
    assert_eq!(post(&gateway, path, segments).await.status(), 200);
    for granularity in ["word", "syllable"] {
        let asked = form("asr", Some("verbose_json"), wav(16_000, 1))
            .text("timestamp_granularities[]", granularity);
        let error = expect_error(post(&gateway, path, asked).await, 400).await;
        assert_eq!(error["param"], "timestamp_granularities[]", "{granularity}");
    }
    let error = expect_error(
        post(
            &gateway,
            path,
            form("asr", None, b"not audio at all".to_vec()),
        )
        .await,
        415,
    )
    .await;
    assert_eq!(error["param"], "file");
    let json = gateway
        .client
        .post(gateway.url(path))
        .json(&serde_json::json!({"model": "asr"}))
        .send()
        .await
        .unwrap();
    expect_error(json, 415).await;
    assert_eq!(
        upstream.requests().len(),
        1,
        "only the segment request went through"
    );
}
