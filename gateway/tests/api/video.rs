//! Video through the real server: frames sampled by timestamp and shaped by the picture
//! contract, delivered as image parts (with their times) to a model that takes pictures but not
//! video, the audio track as an audio part; hostile videos refused with a 4xx.

use crate::common::{Gateway, expect_error};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnigate_testkit::FakeUpstream;
use serde_json::{Value, json};

fn clip(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("video/testdata")
        .join(name);
    std::fs::read(&path).unwrap()
}

fn config(upstream: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
[models.frames]
modalities = ["text", "image"]
[models.frames.image]
max_side = 64
[[models.frames.deployments]]
kind = "openai"
base_url = "{upstream}"
[models.frames-audio]
modalities = ["text", "image", "audio"]
[models.frames-audio.video]
frames = 2
[[models.frames-audio.deployments]]
kind = "openai"
base_url = "{upstream}"
[models.text]
[[models.text.deployments]]
kind = "openai"
base_url = "{upstream}"
"#
    )
}

fn video_request(model: &str, bytes: &[u8]) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What happens?"},
        {"type": "video_url", "video_url": {"url": format!("data:video/mp4;base64,{}", BASE64.encode(bytes))}}]}]})
}

#[tokio::test]
async fn video_becomes_timed_frames_for_an_image_model() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url())).await;
    let response = gateway
        .post_json(
            "/v1/chat/completions",
            video_request("frames", &clip("colors_baseline.mp4")),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["usage"]["media"]["video_frames"], 3, "3 s at 1 fps");
    let parts = upstream.last_request().body["messages"][0]["content"].clone();
    let parts = parts.as_array().unwrap();
    // The text, then (label, frame) for each of the 3 frames.
    assert_eq!(parts.len(), 1 + 3 * 2, "{parts:?}");
    assert_eq!(parts[1]["text"], "[video frame at 0.00 s]");
    assert_eq!(parts[3]["text"], "[video frame at 1.00 s]");
    assert!(
        parts[2]["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/jpeg;base64,")
    );
}

#[tokio::test]
async fn normalize_reports_frame_timestamps_and_audio_track() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url())).await;
    let response = gateway
        .post_json(
            "/v1/normalize",
            video_request("frames-audio", &clip("with_audio.mp4")),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let item = &body["items"][0];
    assert_eq!(item["kind"], "video");
    assert_eq!(item["video"]["codec"], "h264");
    assert_eq!(item["video"]["has_audio"], true);
    assert_eq!(item["video"]["delivered_as"], "images");
    assert_eq!(
        item["video"]["frame_timestamps"].as_array().unwrap().len(),
        2
    );
    assert_eq!(item["audio"]["output_sample_rate"], 16_000);
    assert!(body["media"]["audio_seconds"].as_f64().unwrap() > 0.0);
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn hostile_videos_get_a_4xx() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url())).await;
    let good = clip("colors_baseline.mp4");
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (good[..good.len() / 2].to_vec(), 422),
        (clip("mpeg4_part2.mp4"), 415),
        (b"definitely not a video".to_vec(), 415),
    ];
    for (bytes, status) in cases {
        let error = expect_error(
            gateway
                .post_json("/v1/chat/completions", video_request("frames", &bytes))
                .await,
            status,
        )
        .await;
        assert_eq!(error["param"], "messages[0].content[1]");
    }
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", video_request("text", &good))
            .await,
        400,
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("video"));
    assert!(upstream.requests().is_empty());
}
