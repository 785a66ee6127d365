//! The media limits through the real server: a request's `media_limits` lower the server's and
//! never raise them, item counts and byte totals per request, the decode deadline; plus
//! `audio_url` (data and http), `input_audio.format` and `detail = original`.

use crate::common::{Gateway, expect_error, vision_config, wav};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnigate_testkit::FakeUpstream;
use serde_json::{Value, json};
use std::io::Cursor;

/// A picture with texture, so it neither compresses to nothing nor decodes instantly.
fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 + y) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A picture of noise: its PNG is about as large as its pixels.
fn noise_png(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let img = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [r, g, b, ..] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn image_part(bytes: &[u8]) -> Value {
    json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", BASE64.encode(bytes))}})
}

fn audio_part(bytes: &[u8]) -> Value {
    json!({"type": "input_audio", "input_audio": {"data": BASE64.encode(bytes), "format": "wav"}})
}

fn request(parts: Vec<Value>) -> Value {
    json!({"model": "vision", "messages": [{"role": "user", "content": parts}]})
}

/// The size of the picture the upstream received in part `index` of the last request.
fn sent_image_size(upstream: &FakeUpstream, index: usize) -> (u32, u32) {
    let sent = upstream.last_request().body;
    let url = sent["messages"][0]["content"][index]["image_url"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, payload) = url.split_once(";base64,").unwrap();
    let picture = image::load_from_memory(&BASE64.decode(payload).unwrap()).unwrap();
    (picture.width(), picture.height())
}

#[tokio::test]
async fn a_request_lowers_media_limits_and_cannot_raise_them() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), "")).await;
    let picture = png(640, 480);

    // Smaller pictures than the model's 256, and the extension is not forwarded.
    let mut smaller = request(vec![image_part(&picture)]);
    smaller["media_limits"] = json!({"max_image_side": 64});
    let response = gateway.post_json("/v1/chat/completions", smaller).await;
    assert_eq!(response.status(), 200);
    assert_eq!(sent_image_size(&upstream, 0), (64, 48));
    assert!(upstream.last_request().body.get("media_limits").is_none());

    let lowered: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"max_images": 0}),
            413,
            "too_many_media_items",
            "messages[0].content[0]",
        ),
        (
            json!({"max_item_bytes": 100}),
            413,
            "media_too_large",
            "messages[0].content[0]",
        ),
        (
            json!({"max_images": 17}),
            400,
            "invalid_request",
            "media_limits.max_images",
        ),
        (
            json!({"max_image_side": 4096}),
            400,
            "invalid_request",
            "media_limits.max_image_side",
        ),
        (
            json!({"max_audio_seconds": -1.0}),
            400,
            "invalid_request",
            "media_limits.max_audio_seconds",
        ),
    ];
    for (limits, status, code, param) in lowered {
        let mut body = request(vec![image_part(&picture)]);
        body["media_limits"] = limits.clone();
        let error = expect_error(
            gateway.post_json("/v1/chat/completions", body).await,
            status,
        )
        .await;
        assert_eq!(error["code"], code, "{limits}: {error}");
        assert_eq!(error["param"], param, "{limits}: {error}");
    }
    // An unknown key is a 400 too, not silently ignored.
    let mut body = request(vec![image_part(&picture)]);
    body["media_limits"] = json!({"max_cats": 1});
    let error = expect_error(gateway.post_json("/v1/chat/completions", body).await, 400).await;
    assert!(
        error["message"].as_str().unwrap().contains("max_cats"),
        "{error}"
    );
    assert_eq!(
        upstream.requests().len(),
        1,
        "only the first request went through"
    );
}

#[tokio::test]
async fn sound_counts_and_request_bytes_are_capped() {
    let upstream = FakeUpstream::start().await;
    let media = "max_audio_per_request = 1\nmax_request_bytes = 60000";
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), media)).await;
    let clip = wav(16_000, 1, 0.5, None);
    let error = expect_error(
        gateway
            .post_json(
                "/v1/chat/completions",
                request(vec![audio_part(&clip), audio_part(&clip)]),
            )
            .await,
        413,
    )
    .await;
    assert_eq!(error["code"], "too_many_media_items");
    assert_eq!(error["param"], "messages[0].content[1]");

    // Each picture fits alone; together they pass the request's total.
    let picture = noise_png(160, 120);
    assert!(
        (30_000..60_000).contains(&picture.len()),
        "{}",
        picture.len()
    );
    let error = expect_error(
        gateway
            .post_json(
                "/v1/chat/completions",
                request(vec![image_part(&picture), image_part(&picture)]),
            )
            .await,
        413,
    )
    .await;
    assert_eq!(error["code"], "media_too_large");
    assert_eq!(error["param"], "messages[0].content[1]");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_decode_past_its_deadline_is_a_422_naming_the_part() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(
        &upstream.base_url(),
        "decode_timeout_secs = 0.001",
    ))
    .await;
    // ~24 MB of pixels to inflate and shrink: far more than a millisecond.
    let big = png(4000, 2000);
    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", request(vec![image_part(&big)]))
            .await,
        422,
    )
    .await;
    assert_eq!(error["code"], "media_decode_timeout");
    assert_eq!(error["param"], "messages[0].content[0]");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn audio_url_takes_data_urls_and_allowed_http_urls() {
    let clip = wav(44_100, 2, 0.5, None);
    let served = clip.clone();
    let app = axum::Router::new().route(
        "/clip.wav",
        axum::routing::get(move || {
            let body = served.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let upstream = FakeUpstream::start().await;
    let media = "[media.fetch]\nallow_hosts = [\"127.0.0.1\"]";
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), media)).await;
    let data_url = format!("data:audio/wav;base64,{}", BASE64.encode(&clip));
    let body = request(vec![
        json!({"type": "audio_url", "audio_url": {"url": format!("http://{addr}/clip.wav")}}),
        json!({"type": "audio_url", "audio_url": {"url": data_url}}),
    ]);
    let report: Value = gateway
        .post_json("/v1/normalize", body.clone())
        .await
        .json()
        .await
        .unwrap();
    let sources: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["http", "data"]);
    for item in report["items"].as_array().unwrap() {
        assert_eq!(item["audio"]["source_sample_rate"], 44_100);
        assert_eq!(item["audio"]["output_sample_rate"], 16_000);
        assert_eq!(item["audio"]["output_channels"], 1);
    }
    let response = gateway.post_json("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    let parts = upstream.last_request().body["messages"][0]["content"].clone();
    assert_eq!(parts[0]["type"], "input_audio");
    assert_eq!(parts[1]["type"], "input_audio");
}

#[tokio::test]
async fn input_audio_format_must_be_one_openai_documents_or_the_issue_lists() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), "")).await;
    let clip = wav(16_000, 1, 0.2, None);
    let body = request(vec![json!({"type": "input_audio", "input_audio": {
        "data": BASE64.encode(&clip), "format": "aiff"}})]);
    let error = expect_error(gateway.post_json("/v1/chat/completions", body).await, 400).await;
    assert_eq!(error["param"], "messages[0].content[0].input_audio.format");
    assert!(
        error["message"].as_str().unwrap().contains("wav"),
        "{error}"
    );
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn detail_original_keeps_the_picture_size_and_a_bad_detail_is_a_400() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), "")).await;
    let picture = png(640, 480);
    let url = format!("data:image/png;base64,{}", BASE64.encode(&picture));
    let with_detail = |detail: &str| {
        request(vec![
            json!({"type": "image_url", "image_url": {"url": url, "detail": detail}}),
        ])
    };
    let response = gateway
        .post_json("/v1/chat/completions", with_detail("original"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        sent_image_size(&upstream, 0),
        (640, 480),
        "not shrunk to 256"
    );
    let response = gateway
        .post_json("/v1/chat/completions", with_detail("high"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(sent_image_size(&upstream, 0), (256, 192));

    let mut limited = with_detail("original");
    limited["media_limits"] = json!({"max_image_side": 100});
    let response = gateway.post_json("/v1/chat/completions", limited).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        sent_image_size(&upstream, 0),
        (100, 75),
        "a side the request set bounds `original` too"
    );

    let error = expect_error(
        gateway
            .post_json("/v1/chat/completions", with_detail("ultra"))
            .await,
        400,
    )
    .await;
    assert_eq!(error["param"], "messages[0].content[0].image_url.detail");
}
