//! OCR with PP-OCRv4: pictures from concurrent requests share detection and recognition
//! batches; the answer is the text in reading order, or boxes and confidences as JSON.

use std::path::Path;

use burn::tensor::Device;
use image::RgbImage;
use omnigate_backend::{BackendError, ChatRequest};
use omnigate_ppocr::{PpOcr, TextLine};
use serde_json::{Value, json};

use crate::batcher::{BatchModel, Batcher};

/// PP-OCR on its worker thread.
pub(crate) struct OcrModel {
    model: PpOcr,
}

impl OcrModel {
    pub(crate) fn load(dir: &Path, device: &Device) -> Result<Self, BackendError> {
        let model =
            PpOcr::load(dir, device).map_err(|e| BackendError::Unavailable(e.to_string()))?;
        Ok(Self { model })
    }
}

impl BatchModel for OcrModel {
    type Input = RgbImage;
    type Output = Vec<TextLine>;

    /// One unit per started megapixel: detection time follows the picture's area.
    fn cost(input: &RgbImage) -> usize {
        (input.width() as usize * input.height() as usize).div_ceil(1 << 20)
    }

    fn run(&mut self, inputs: Vec<RgbImage>) -> Vec<Result<Vec<TextLine>, BackendError>> {
        let refs: Vec<&RgbImage> = inputs.iter().collect();
        match self.model.recognize_batch(&refs) {
            Ok(lines) => lines.into_iter().map(Ok).collect(),
            Err(e) => {
                let message = format!("OCR: {e}");
                inputs
                    .iter()
                    .map(|_| Err(BackendError::Internal(message.clone())))
                    .collect()
            }
        }
    }
}

/// The recognized text of every picture in the request: plain text (lines in reading order,
/// pictures separated by a blank line), or with `response_format` `json_object`/`json_schema`
/// a JSON document with each line's box and confidence.
pub(crate) async fn answer(
    batcher: &Batcher<RgbImage, Vec<TextLine>>,
    request: &ChatRequest,
) -> Result<String, BackendError> {
    let images = crate::inputs::images(request)?;
    let calls = images.into_iter().map(|image| {
        let cost = OcrModel::cost(&image);
        batcher.call(image, cost)
    });
    let results = futures::future::try_join_all(calls).await?;
    Ok(if wants_json(request) {
        let images: Vec<Value> = results
            .iter()
            .map(|lines| {
                json!({
                    "text": rows(lines).join("\n"),
                    "lines": lines.iter().map(line_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "images": images }).to_string()
    } else {
        results
            .iter()
            .map(|lines| rows(lines).join("\n"))
            .collect::<Vec<_>>()
            .join("\n\n")
    })
}

/// The text of each visual row: the detector often boxes the words of one row separately
/// (wide gaps, columns), and a reader wants them on one line, left to right. Boxes arrive in
/// reading order; consecutive boxes whose vertical centres are within half a box height share
/// a row.
fn rows(lines: &[TextLine]) -> Vec<String> {
    let span = |l: &TextLine| {
        let ys = l.bbox.map(|p| p[1]);
        let (top, bottom) = (
            ys.iter().copied().fold(f32::INFINITY, f32::min),
            ys.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        );
        ((top + bottom) / 2.0, bottom - top)
    };
    let mut out: Vec<String> = Vec::new();
    let mut last: Option<(f32, f32)> = None;
    for line in lines.iter().filter(|l| !l.text.is_empty()) {
        let (centre, height) = span(line);
        match (last, out.last_mut()) {
            (Some((c, h)), Some(row)) if (centre - c).abs() < 0.5 * height.min(h) => {
                row.push(' ');
                row.push_str(&line.text);
            }
            _ => out.push(line.text.clone()),
        }
        last = Some((centre, height));
    }
    out
}

fn line_json(line: &TextLine) -> Value {
    json!({ "text": line.text, "confidence": line.confidence, "box": line.bbox })
}

/// Whether the client asked for a JSON answer (`response_format.type` is `json_object` or
/// `json_schema`).
pub(crate) fn wants_json(request: &ChatRequest) -> bool {
    matches!(
        request
            .params
            .get("response_format")
            .and_then(|f| f.get("type"))
            .and_then(Value::as_str),
        Some("json_object" | "json_schema")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, x: f32, y: f32, h: f32) -> TextLine {
        TextLine {
            text: text.into(),
            confidence: 0.9,
            bbox: [[x, y], [x + 50.0, y], [x + 50.0, y + h], [x, y + h]],
        }
    }

    #[test]
    fn words_boxed_apart_on_one_row_are_joined_and_rows_stay_apart() {
        let lines = [
            line("HELLO", 10.0, 10.0, 30.0),
            line("WORLD", 90.0, 12.0, 30.0),
            line("next row", 10.0, 60.0, 30.0),
        ];
        assert_eq!(rows(&lines), ["HELLO WORLD", "next row"]);
    }
}
