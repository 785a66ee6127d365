//! Media inputs: a JPEG sent as a data URL must reach the server as exactly the tensor the
//! model's contract declares, in NCHW and NHWC, over gRPC and REST. The server's model reports
//! each channel's mean and four pixels of what it received; the test computes the same from
//! the JPEG, through the media crate (bit for bit) and by hand (the contract's formula).

use super::{MEAN, STD, post, shared, stats_model};
use base64::Engine;
use image::RgbImage;
use omnigate_backend::ImageData;
use omnigate_media::{FitMode, ImageOutput, ImagePolicy};
use serde_json::{Value, json};

/// A colourful test picture, as a JPEG.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let picture = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width) as u8,
            (y * 255 / height) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&picture)
        .unwrap();
    bytes
}

fn data_url(jpeg: &[u8]) -> String {
    format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    )
}

/// The `[3, 224, 224]` tensor the media crate makes of `jpeg` under the stats models' contract.
fn normalized(jpeg: &[u8]) -> Vec<f32> {
    let policy = ImagePolicy {
        fit: FitMode::Fit,
        output: ImageOutput::Tensor {
            size: (224, 224),
            mean: MEAN,
            std: STD,
        },
        ..ImagePolicy::default()
    };
    match omnigate_media::normalize_image(jpeg, &policy, None)
        .unwrap()
        .0
    {
        ImageData::Tensor(tensor) => tensor.data.to_vec(),
        ImageData::Encoded(_) => panic!("a tensor was asked for"),
    }
}

/// The pixels the server's model reports: (y, x) for each of them.
const POINTS: [(usize, usize); 4] = [(0, 0), (0, 223), (223, 0), (112, 74)];

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_jpeg_data_url_arrives_as_exactly_the_declared_tensor() {
    let addr = shared();
    for (width, height) in [(224, 224), (320, 200)] {
        let jpeg = jpeg(width, height);
        let chw = normalized(&jpeg);
        let plane = 224 * 224;
        let means: Vec<f64> = chw
            .chunks(plane)
            .map(|c| c.iter().map(|v| f64::from(*v)).sum::<f64>() / plane as f64)
            .collect();
        let pixels: Vec<f32> = (0..3)
            .flat_map(|c| POINTS.map(|(y, x)| chw[c * plane + y * 224 + x]))
            .collect();
        for model in ["stats", "stats-http", "stats-nhwc"] {
            let body = json!({"inputs": [{"name": "pixel_values", "media": data_url(&jpeg)}]});
            let (status, answer) = post(addr, &format!("/v2/models/{model}/infer"), &body).await;
            assert_eq!(status, 200, "{model}: {answer}");
            let outputs = answer["outputs"].as_array().unwrap();
            let output = |name: &str| outputs.iter().find(|o| o["name"] == name).unwrap();
            assert_eq!(
                output("pixels")["shape"],
                json!([1, 3, 4]),
                "a batch of one picture"
            );
            let got: Vec<f32> = numbers(&output("pixels")["data"])
                .iter()
                .map(|v| *v as f32)
                .collect();
            assert_eq!(
                got, pixels,
                "{model} {width}x{height}: the pixels, bit for bit"
            );
            for (got, want) in numbers(&output("channel_mean")["data"]).iter().zip(&means) {
                assert!(
                    (got - want).abs() < 1e-9,
                    "{model} {width}x{height}: mean {got} vs {want}"
                );
            }
        }
        if (width, height) == (224, 224) {
            // No resize: the tensor is the contract's formula on the decoded pixels.
            let rgb = image::load_from_memory(&jpeg).unwrap().to_rgb8();
            for (c, point) in (0..3).flat_map(|c| POINTS.map(|p| (c, p))) {
                let (y, x) = point;
                let value = rgb.get_pixel(x as u32, y as u32)[c];
                let want = (f32::from(value) / 255.0 - MEAN[c]) / STD[c];
                let got = pixels[c * 4 + POINTS.iter().position(|p| *p == point).unwrap()];
                assert!(
                    (got - want).abs() < 1e-5,
                    "channel {c} at {point:?}: {got} vs {want}"
                );
            }
        }
    }
}

/// Each channel's mean of the tensor the media crate makes of `jpeg`.
fn channel_means(jpeg: &[u8]) -> Vec<f64> {
    let plane = 224 * 224;
    normalized(jpeg)
        .chunks(plane)
        .map(|c| c.iter().map(|v| f64::from(*v)).sum::<f64>() / plane as f64)
        .collect()
}

#[tokio::test]
async fn pictures_sent_to_embeddings_arrive_as_one_batch_tensor_and_its_output_is_the_vector() {
    let addr = shared();
    let pictures = [jpeg(224, 224), jpeg(320, 200), jpeg(64, 480)];
    let input: Vec<Value> = pictures
        .iter()
        .map(|p| json!({"type": "image_url", "image_url": {"url": data_url(p)}}))
        .collect();
    for model in ["picture-embed", "picture-embed-http"] {
        let body = json!({"model": model, "input": input});
        let (status, answer) = post(addr, "/v1/embeddings", &body).await;
        assert_eq!(status, 200, "{model}: {answer}");
        let data = answer["data"].as_array().unwrap();
        assert_eq!(
            data.len(),
            pictures.len(),
            "{model}: one vector per picture"
        );
        for (i, (item, picture)) in data.iter().zip(&pictures).enumerate() {
            assert_eq!(item["index"], i);
            let got = numbers(&item["embedding"]);
            let want = channel_means(picture);
            assert_eq!(got.len(), 3, "{model}: the model's [n, 3] output, row {i}");
            for (got, want) in got.iter().zip(&want) {
                // The server's FP64 means, sent on as the f32s an embedding is made of.
                assert!(
                    (got - want).abs() < 1e-6 * want.abs().max(1.0),
                    "{model} picture {i}: {got} vs {want}"
                );
            }
        }
        let pixels = answer["usage"]["media"]["image_pixels"].as_u64();
        assert_eq!(pixels, Some(3 * 224 * 224), "{model}: {answer}");
    }
}

#[tokio::test]
async fn embeddings_refuse_media_a_model_cannot_take_naming_the_item() {
    let addr = shared();
    let picture = json!({"type": "image_url", "image_url": {"url": data_url(&jpeg(32, 32))}});
    let sound = json!({"type": "audio_url", "audio_url": {"url": "data:audio/wav;base64,AAAA"}});
    let broken = json!({"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}});
    for (model, input, param, want) in [
        // A text model: nothing in its config makes an input from media.
        ("embedder", json!([picture]), "input", 400),
        // Pictures and sounds cannot share one input.
        ("picture-embed", json!([picture, sound]), "input[1]", 400),
        // Sounds, to a model that makes its input from pictures.
        ("picture-embed", json!([sound]), "input", 400),
        // Bytes that are no picture, named by their place (415, as in chat).
        ("picture-embed", json!([picture, broken]), "input[1]", 415),
    ] {
        let body = json!({"model": model, "input": input});
        let (status, answer) = post(addr, "/v1/embeddings", &body).await;
        assert_eq!(status, want, "{model} {param}: {answer}");
        assert_eq!(answer["error"]["param"], param, "{model}: {answer}");
    }
    // Text to a model that embeds pictures: the backend says what it takes.
    let body = json!({"model": "picture-embed", "input": "a cat"});
    let (status, answer) = post(addr, "/v1/embeddings", &body).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("image_url"), "{message}");
}

#[tokio::test]
async fn media_that_is_not_a_picture_is_refused_naming_the_input() {
    let addr = shared();
    let body =
        json!({"inputs": [{"name": "pixel_values", "media": "data:image/jpeg;base64,AAAAAAAA"}]});
    let (status, answer) = post(addr, "/v2/models/stats/infer", &body).await;
    assert!((400..500).contains(&status), "{answer}");
    assert_eq!(answer["error"]["param"], "inputs[0].media", "{answer}");
    let body = json!({"inputs": [{"name": "pixel_values", "datatype": "FP32", "shape": [3, 224], "data": vec![0.0; 672]}]});
    let (status, answer) = post(addr, "/v2/models/stats/infer", &body).await;
    assert_eq!(
        (status, &answer["error"]["param"]),
        (400, &json!("inputs[0].shape")),
        "{answer}"
    );
    let both = json!({"inputs": [{"name": "pixel_values", "media": "data:image/png;base64,AAAA", "datatype": "FP32"}]});
    let (status, answer) = post(addr, "/v2/models/stats/infer", &both).await;
    assert_eq!(
        (status, &answer["error"]["param"]),
        (400, &json!("inputs[0]")),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not both"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_contract_the_servers_model_does_not_fit_stops_the_start_naming_the_key() {
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n{}",
        stats_model("bad", "image-stats", true, "nchw").replace("[224, 224]", "[256, 256]")
    );
    let config = omnigate_config::load_str(&toml, "test").unwrap();
    let err = match omnigate::Server::bind(&config).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a contract of 256² against the server's 224² must not start"),
    };
    assert!(err.contains("models.bad.image.tensor_size"), "{err}");
    assert!(err.contains("[-1, 3, 224, 224]"), "{err}");
}

/// A 16-bit mono WAV of `samples` at `rate`.
fn wav(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data = samples.len() as u32 * 2;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

#[tokio::test]
async fn a_wav_data_url_arrives_as_the_declared_waveform() {
    let addr = shared();
    // 0.1 s of a 440 Hz tone at the contract's rate: the samples arrive as they are, / 32768.
    let samples: Vec<i16> = (0..1600)
        .map(|i| ((i as f32 / 16_000.0 * 440.0 * std::f32::consts::TAU).sin() * 12_000.0) as i16)
        .collect();
    let url = |rate, samples: &[i16]| {
        let bytes = wav(rate, samples);
        format!(
            "data:audio/wav;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    };
    let want: Vec<f32> = samples.iter().map(|s| f32::from(*s) / 32768.0).collect();
    for model in ["sound", "sound-http"] {
        let body = json!({"inputs": [{"name": "waveform", "media": url(16_000, &samples)}]});
        let (status, answer) = post(addr, &format!("/v2/models/{model}/infer"), &body).await;
        assert_eq!(status, 200, "{model}: {answer}");
        let outputs = answer["outputs"].as_array().unwrap();
        let output = |name: &str| &outputs.iter().find(|o| o["name"] == name).unwrap()["data"];
        assert_eq!(output("length"), &json!([1600]), "{model}");
        let head: Vec<f32> = numbers(output("head")).iter().map(|v| *v as f32).collect();
        assert_eq!(head, want[..8], "{model}: the first samples, exactly");
        let total: f64 = want.iter().map(|v| f64::from(*v)).sum();
        assert!(
            (numbers(output("total"))[0] - total).abs() < 1e-6,
            "{model}"
        );
    }
    // At 8 kHz it is resampled to the contract's 16 kHz: twice the samples.
    let slow: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let body = json!({"inputs": [{"name": "waveform", "media": url(8_000, &slow)}]});
    let (status, answer) = post(addr, "/v2/models/sound/infer", &body).await;
    assert_eq!(status, 200, "{answer}");
    let length = answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "length")
        .unwrap()["data"][0]
        .as_u64()
        .unwrap();
    assert!(
        length.abs_diff(1600) <= 16,
        "800 samples at 8 kHz became {length} at 16 kHz"
    );
}
