//! Media through the real server: pictures and sound normalized to the model's contract before
//! the upstream sees them, reported in usage and by /v1/normalize, and hostile inputs refused
//! with a 4xx in bounded time.

use crate::common::{Gateway, expect_error, vision_config, wav};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnigate_testkit::FakeUpstream;
use serde_json::{Value, json};
use std::io::Cursor;
use std::time::{Duration, Instant};

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A PNG whose header declares `width`×`height`, followed by a tiny IDAT: a decompression bomb's
/// shape (the real ones carry a highly compressible IDAT).
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // zlib, one stored block of 64 zero bytes.
    let mut idat = vec![0x78, 0x01, 0x01, 64, 0, !64, 0xFF];
    idat.extend_from_slice(&[0; 64]);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn image_request(url: &str) -> Value {
    json!({"model": "vision", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url}}]}]})
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", BASE64.encode(bytes))
}

#[tokio::test]
async fn image_is_resized_and_reencoded_before_the_upstream_sees_it() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), "")).await;
    let request = image_request(&data_url("image/png", &png(640, 480)));
    let response = gateway.post_json("/v1/chat/completions", request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["usage"]["media"]["images"], 1);
    assert_eq!(body["usage"]["media"]["image_pixels"], 256 * 192);
    let sent = upstream.last_request().body;
    let url = sent["messages"][0]["content"][1]["image_url"]["url"]
        .as_str()
        .unwrap();
    let jpeg = BASE64
        .decode(url.strip_prefix("data:image/jpeg;base64,").unwrap())
        .unwrap();
    let decoded = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 192));
    assert_eq!(sent["messages"][0]["content"][0]["text"], "What is this?");
}

#[tokio::test]
async fn media_usage_is_spliced_into_the_upstreams_answer_as_written() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), "")).await;
    // Key order, spacing and a vendor field the gateway's types do not name.
    let answer = r#"{"usage": {"total_tokens": 7, "prompt_tokens": 5, "completion_tokens": 2}, "model": "upstream-vl", "x_vendor": {"a": [1.50, 2]}, "id": "c1", "object": "chat.completion", "created": 1, "choices": [{"index": 0, "message": {"role": "assistant", "content": "a red square"}, "finish_reason": "stop"}]}"#;
    upstream.answer_verbatim("application/json", answer);
    let request = image_request(&data_url("image/png", &png(64, 48)));
    let response = gateway.post_json("/v1/chat/completions", request).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let expected = answer
        .replace(
            r#""completion_tokens": 2}"#,
            r#""completion_tokens": 2,"media":{"images":1,"image_pixels":3072,"audio_seconds":0.0,"video_frames":0}}"#,
        )
        .replace(r#""model": "upstream-vl""#, r#""model": "vision""#);
    assert_eq!(
        text, expected,
        "only model and usage.media differ from the upstream's bytes"
    );
}

#[tokio::test]
async fn normalize_reports_each_item_without_calling_the_backend() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), "")).await;
    let request = json!({"model": "vision", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": data_url("image/png", &png(100, 400)), "detail": "low"}},
        {"type": "input_audio", "input_audio": {"data": BASE64.encode(wav(44_100, 2, 1.0, None)), "format": "wav"}}]}]});
    let response = gateway.post_json("/v1/normalize", request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let image = &body["items"][0];
    assert_eq!(image["param"], "messages[0].content[0]");
    assert_eq!(image["source"], "data");
    assert_eq!(image["image"]["source_format"], "png");
    assert_eq!(image["image"]["original_width"], 100);
    assert_eq!(image["image"]["output_height"], 256);
    let audio = &body["items"][1];
    assert_eq!(audio["source"], "inline");
    assert_eq!(audio["audio"]["source_sample_rate"], 44_100);
    assert_eq!(audio["audio"]["source_channels"], 2);
    assert_eq!(audio["audio"]["output_sample_rate"], 16_000);
    assert_eq!(audio["audio"]["output_channels"], 1);
    let seconds = audio["audio"]["output_seconds"].as_f64().unwrap();
    assert!((seconds - 1.0).abs() < 0.01, "{seconds}");
    assert_eq!(body["media"]["images"], 1);
    assert!(
        upstream.requests().is_empty(),
        "normalize never calls the backend"
    );
}

#[tokio::test]
async fn audio_reaches_the_upstream_as_16k_mono_wav() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), "")).await;
    let request = json!({"model": "vision", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": BASE64.encode(wav(48_000, 2, 0.5, None)), "format": "wav"}}]}]});
    let response = gateway.post_json("/v1/chat/completions", request).await;
    assert_eq!(response.status(), 200);
    let sent = upstream.last_request().body;
    let part = &sent["messages"][0]["content"][0];
    assert_eq!(part["input_audio"]["format"], "wav");
    let bytes = BASE64
        .decode(part["input_audio"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(u16::from_le_bytes([bytes[22], bytes[23]]), 1, "mono");
    assert_eq!(
        u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
        16_000
    );
    let samples = (bytes.len() - 44) / 2;
    assert!(
        (7_900..=8_100).contains(&samples),
        "{samples} samples for 0.5 s"
    );
}

#[tokio::test]
async fn hostile_media_gets_a_clear_4xx_quickly() {
    let upstream = FakeUpstream::start().await;
    let gateway = Gateway::from_toml(&vision_config(&upstream.base_url(), "")).await;
    let good = png(64, 64);
    let cases: Vec<(String, u16, &str)> = vec![
        (
            data_url("image/png", &png_declaring(100_000, 100_000)),
            413,
            "image_too_large",
        ),
        (
            data_url("image/png", &good[..good.len() / 2]),
            422,
            "corrupt_media",
        ),
        (data_url("image/png", b""), 400, "empty_media"),
        (
            data_url("image/png", &wav(8000, 1, 0.1, None)),
            415,
            "unsupported_media",
        ),
        (
            "data:image/png;base64,@@@not base64@@@".to_owned(),
            400,
            "media_fetch_failed",
        ),
        (
            "http://127.0.0.1:9/cat.png".to_owned(),
            400,
            "media_fetch_failed",
        ),
        (
            "http://10.0.0.1/cat.png".to_owned(),
            400,
            "media_fetch_failed",
        ),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            400,
            "media_fetch_failed",
        ),
        ("http://[::1]/cat.png".to_owned(), 400, "media_fetch_failed"),
        ("file:///etc/passwd".to_owned(), 400, "media_fetch_failed"),
        ("gopher://example/".to_owned(), 400, "media_fetch_failed"),
    ];
    for (url, status, code) in cases {
        let started = Instant::now();
        let response = gateway
            .post_json("/v1/chat/completions", image_request(&url))
            .await;
        let error = expect_error(response, status).await;
        assert_eq!(error["code"], code, "{url}: {error}");
        assert_eq!(error["param"], "messages[0].content[1]", "{url}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url} took {:?}",
            started.elapsed()
        );
    }
    // Ten hours declared in a WAV header: refused before decoding.
    let ten_hours = wav(16_000, 1, 0.01, Some(16_000 * 36_000));
    let request = json!({"model": "vision", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": BASE64.encode(ten_hours), "format": "wav"}}]}]});
    let error = expect_error(
        gateway.post_json("/v1/chat/completions", request).await,
        413,
    )
    .await;
    assert_eq!(error["code"], "audio_too_long");
    let request = json!({"model": "vision", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "%%%", "format": "wav"}}]}]});
    let error = expect_error(
        gateway.post_json("/v1/chat/completions", request).await,
        400,
    )
    .await;
    assert_eq!(error["code"], "invalid_base64");
    assert!(
        upstream.requests().is_empty(),
        "nothing hostile reached the upstream"
    );
}

#[tokio::test]
async fn too_many_images_are_refused() {
    let upstream = FakeUpstream::start().await;
    let config = vision_config(&upstream.base_url(), "max_images_per_request = 1");
    let gateway = Gateway::from_toml(&config).await;
    let url = data_url("image/png", &png(8, 8));
    let request = json!({"model": "vision", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}},
        {"type": "image_url", "image_url": {"url": url}}]}]});
    let error = expect_error(
        gateway.post_json("/v1/chat/completions", request).await,
        413,
    )
    .await;
    assert_eq!(error["param"], "messages[0].content[1]");
}

#[tokio::test]
async fn a_url_that_streams_forever_is_cut_at_the_byte_cap() {
    use axum::body::Body;
    let endless = axum::Router::new().route(
        "/endless.png",
        axum::routing::get(|| async {
            let chunk = bytes::Bytes::from(vec![0u8; 64 * 1024]);
            Body::from_stream(futures::stream::repeat_with(move || {
                Ok::<_, std::io::Error>(chunk.clone())
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, endless).await.unwrap() });
    let upstream = FakeUpstream::start().await;
    let config = vision_config(
        &upstream.base_url(),
        "max_item_bytes = 1048576\n[media.fetch]\nallow_hosts = [\"127.0.0.1\"]",
    );
    let gateway = Gateway::from_toml(&config).await;
    let started = Instant::now();
    let request = image_request(&format!("http://{addr}/endless.png"));
    let error = expect_error(
        gateway.post_json("/v1/chat/completions", request).await,
        413,
    )
    .await;
    assert_eq!(error["code"], "media_too_large");
    assert!(started.elapsed() < Duration::from_secs(10));
}
