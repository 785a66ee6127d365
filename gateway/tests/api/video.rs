//! Video through the real server: frames sampled by timestamp and shaped by the picture
//! contract, delivered as image parts (with their times) to a model that takes pictures but not
//! video, the audio track as an audio part (alone, for a model that takes only sound); hostile
//! videos refused with a 4xx.

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
[models.sound]
modalities = ["text", "audio"]
[[models.sound.deployments]]
kind = "openai"
base_url = "{upstream}"
[models.strict]
modalities = ["text", "image"]
[models.strict.video]
adapt = "refuse"
[[models.strict.deployments]]
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

#[tokio::test]
async fn a_sound_only_model_gets_the_audio_track_alone() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url())).await;
    let request = video_request("sound", &clip("with_audio.mp4"));
    let response = gateway
        .post_json("/v1/chat/completions", request.clone())
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["usage"]["media"]["video_frames"], 0);
    assert!(body["usage"]["media"]["audio_seconds"].as_f64().unwrap() > 0.0);
    let parts = upstream.last_request().body["messages"][0]["content"].clone();
    let types: Vec<&str> = parts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text", "input_audio"]);

    let report: Value = gateway
        .post_json("/v1/normalize", request)
        .await
        .json()
        .await
        .unwrap();
    let video = &report["items"][0]["video"];
    assert_eq!(video["delivered_as"], "audio");
    assert_eq!(
        video["decoded_frames"], 0,
        "no picture is decoded for sound"
    );
    assert_eq!(report["items"][0]["audio"]["output_sample_rate"], 16_000);

    // Its picture track does not matter to this model: one omnigate cannot decode (the avc1
    // sample entry relabelled hvc1, as a phone's HEVC video would read) still gives its sound.
    let mut hevc = clip("with_audio.mp4");
    let avc1 = find(&hevc, find(&hevc, 0, b"stsd"), b"avc1") - 4;
    hevc[avc1..avc1 + 4].copy_from_slice(b"hvc1");
    let frames = expect_error(
        gateway
            .post_json("/v1/chat/completions", video_request("frames", &hevc))
            .await,
        415,
    )
    .await;
    assert_eq!(frames["code"], "unsupported_media", "{frames}");
    let response = gateway
        .post_json("/v1/chat/completions", video_request("sound", &hevc))
        .await;
    assert_eq!(response.status(), 200);
    let parts = upstream.last_request().body["messages"][0]["content"].clone();
    assert_eq!(parts[1]["type"], "input_audio");
    let report: Value = gateway
        .post_json("/v1/normalize", video_request("sound", &hevc))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["items"][0]["video"]["codec"], "hvc1");

    // A video without sound has nothing for this model.
    let silent = expect_error(
        gateway
            .post_json(
                "/v1/chat/completions",
                video_request("sound", &clip("colors_baseline.mp4")),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(silent["code"], "no_audio_track");
    assert_eq!(silent["param"], "messages[0].content[1]");
}

#[tokio::test]
async fn a_contract_that_does_not_adapt_videos_refuses_them() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url())).await;
    let error = expect_error(
        gateway
            .post_json(
                "/v1/chat/completions",
                video_request("strict", &clip("colors_baseline.mp4")),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(error["param"], "messages[0].content[1]");
    assert!(
        error["message"].as_str().unwrap().contains("video"),
        "{error}"
    );
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_request_may_take_fewer_frames_never_more() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url())).await;
    let mut request = video_request("frames-audio", &clip("with_audio.mp4"));
    request["media_limits"] = json!({"max_video_frames": 1});
    let report: Value = gateway
        .post_json("/v1/normalize", request.clone())
        .await
        .json()
        .await
        .unwrap();
    let timestamps = report["items"][0]["video"]["frame_timestamps"]
        .as_array()
        .unwrap();
    assert_eq!(timestamps.len(), 1, "the contract's 2 frames, lowered to 1");

    // The model's ceiling is its `max_frames` (32 by default), not the 2 it samples.
    request["media_limits"] = json!({"max_video_frames": 33});
    let error = expect_error(
        gateway.post_json("/v1/chat/completions", request).await,
        400,
    )
    .await;
    assert_eq!(error["param"], "media_limits.max_video_frames");
    assert!(upstream.requests().is_empty());
}

/// Offset just past the first `fourcc` after `from`.
fn find(data: &[u8], from: usize, fourcc: &[u8; 4]) -> usize {
    from + data[from..].windows(4).position(|w| w == fourcc).unwrap() + 4
}

#[tokio::test]
async fn lying_mp4_headers_and_empty_videos_get_a_4xx() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&config(&upstream.base_url())).await;
    let good = clip("colors_baseline.mp4");
    // The avc1 sample entry declares 65535x65535 (width and height 24 bytes into it).
    let avc1 = find(&good, find(&good, 0, b"stsd"), b"avc1");
    let mut huge = good.clone();
    huge[avc1 + 24..avc1 + 28].fill(0xff);
    // mvhd declares a duration of 2^31 ticks.
    let mvhd = find(&good, 0, b"mvhd");
    let mut endless = good.clone();
    endless[mvhd + 16..mvhd + 20].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    // stsc puts 2^31 samples in the one chunk.
    let stsc = find(&good, 0, b"stsc");
    let mut countless = good.clone();
    countless[stsc + 12..stsc + 16].copy_from_slice(&0x8000_0000u32.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("absurd size", huge, 413, "video_too_large"),
        ("absurd duration", endless, 413, "video_too_long"),
        ("absurd frame count", countless, 422, "corrupt_media"),
        ("empty", Vec::new(), 400, "empty_media"),
    ];
    for (what, bytes, status, code) in cases {
        let started = std::time::Instant::now();
        let error = expect_error(
            gateway
                .post_json("/v1/chat/completions", video_request("frames", &bytes))
                .await,
            status,
        )
        .await;
        assert_eq!(error["code"], code, "{what}: {error}");
        assert_eq!(error["param"], "messages[0].content[1]", "{what}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{what}"
        );
    }
    assert!(upstream.requests().is_empty());
}
