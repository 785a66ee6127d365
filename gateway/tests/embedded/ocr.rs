//! PP-OCRv4 through chat: a picture of text (rendered with DejaVu Sans by omnigate-ppocr's
//! tests, `testdata/ocr_page.png`) is read back exactly, as text and as boxes.

use base64::Engine;
use serde_json::{Value, json};

use crate::{content, gateway, post};

const PAGE: &[u8] = include_bytes!("testdata/ocr_page.png");
const LINES: [&str; 4] = [
    "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.",
    "Optical character recognition turns pictures",
    "of printed words into plain text again.",
];

fn request(extra: Value) -> Value {
    let url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(PAGE)
    );
    let mut body = json!({
        "model": "pp-ocrv4",
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "Read this." },
            { "type": "image_url", "image_url": { "url": url } }
        ]}]
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

#[tokio::test]
async fn a_picture_of_text_is_read_exactly_in_reading_order() {
    let (status, body) = post(gateway(), "/v1/chat/completions", &request(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content(&body), LINES.join("\n"));
    assert_eq!(body["model"], "pp-ocrv4");
}

#[tokio::test]
async fn json_answers_carry_boxes_and_confidences() {
    let ask = request(json!({ "response_format": { "type": "json_object" } }));
    let (status, body) = post(gateway(), "/v1/chat/completions", &ask).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(content(&body)).unwrap();
    assert_eq!(answer["images"][0]["text"], LINES.join("\n"), "{answer}");
    // One entry per detected box: a row's words may be boxed apart.
    let lines = answer["images"][0]["lines"].as_array().unwrap();
    let words: Vec<&str> = lines
        .iter()
        .flat_map(|l| l["text"].as_str().unwrap().split(' '))
        .collect();
    assert_eq!(
        words,
        LINES.join(" ").split(' ').collect::<Vec<_>>(),
        "{answer}"
    );
    for line in lines {
        let confidence = line["confidence"].as_f64().unwrap();
        assert!((0.5..=1.0).contains(&confidence), "{line}");
        let corners = line["box"].as_array().unwrap();
        assert_eq!(corners.len(), 4, "{line}");
        for corner in corners {
            let (x, y) = (corner[0].as_f64().unwrap(), corner[1].as_f64().unwrap());
            assert!(
                (0.0..=900.0).contains(&x) && (0.0..=300.0).contains(&y),
                "{line}"
            );
        }
    }
    // The title sits above the paragraph's last line.
    let last = lines.last().unwrap();
    assert!(
        lines[0]["box"][2][1].as_f64() < last["box"][0][1].as_f64(),
        "{answer}"
    );
}

#[tokio::test]
async fn streamed_answers_arrive_as_chunks() {
    let ask = request(json!({ "stream": true }));
    let response = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", gateway()))
        .json(&ask)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let streamed: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(streamed, LINES.join("\n"));
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[tokio::test]
async fn a_request_without_a_picture_is_a_400() {
    let body = json!({ "model": "pp-ocrv4", "messages": [{ "role": "user", "content": "hello" }] });
    let (status, answer) = post(gateway(), "/v1/chat/completions", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("image_url"),
        "{answer}"
    );
}
