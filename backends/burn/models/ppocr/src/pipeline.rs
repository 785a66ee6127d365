//! The whole OCR pipeline: detection, direction classification, recognition.

use std::path::Path;

use burn::tensor::Device;
use image::RgbImage;

use crate::error::OcrError;
use crate::generated::{cls, cls_weights, det, det_weights, rec, rec_weights};
use crate::models::{CLS_FILE, DET_FILE, REC_FILE, load_weights};
use crate::onnx_file::OnnxFile;
use crate::postprocess::{Point, reading_order};
use crate::preprocess::{crop_text_box, pad_vertically, resize_bilinear};
use crate::stages::{Classifier, Detector, Recognizer};

/// Images with a longer side above this are scaled down first.
const MAX_SIDE_LEN: u32 = 2000;
/// Images with a shorter side below this are scaled up first.
const MIN_SIDE_LEN: u32 = 30;
/// Images at most this tall, or wider than [`MAX_ASPECT`] times their height, get black
/// bands above and below: the detector misses text that touches the image border.
const MIN_HEIGHT: u32 = 30;
/// See [`MIN_HEIGHT`].
const MAX_ASPECT: u32 = 8;
/// Lines recognized with a lower confidence are dropped.
const MIN_TEXT_SCORE: f32 = 0.5;

/// One recognized line of text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    /// The text.
    pub text: String,
    /// Mean probability of its characters, in `[0, 1]`.
    pub confidence: f32,
    /// Pixel corners in the input image, clockwise from top-left.
    pub bbox: [[f32; 2]; 4],
}

/// PP-OCRv4 (det + cls + rec) on burn.
#[derive(Debug)]
pub struct PpOcr {
    detector: Detector,
    classifier: Classifier,
    recognizer: Recognizer,
}

/// An image as the detector sees it, and how to map its boxes back.
struct Prepared {
    image: RgbImage,
    scale_x: f32,
    scale_y: f32,
    padding_top: f32,
    original_width: f32,
    original_height: f32,
}

impl PpOcr {
    /// Loads the three networks from `models_dir` (the folder holding
    /// `ch_PP-OCRv4_det_infer.onnx`, `ch_PP-OCRv4_rec_infer.onnx` and
    /// `ch_ppocr_mobile_v2.0_cls_infer.onnx`) onto `device`.
    pub fn load(models_dir: &Path, device: &Device) -> Result<Self, OcrError> {
        let det_file = OnnxFile::read(&models_dir.join(DET_FILE))?;
        let det = load_weights(det::Model::new(device), &det_file, det_weights::WEIGHTS)?;
        drop(det_file);
        let cls_file = OnnxFile::read(&models_dir.join(CLS_FILE))?;
        let cls = load_weights(cls::Model::new(device), &cls_file, cls_weights::WEIGHTS)?;
        drop(cls_file);
        let rec_file = OnnxFile::read(&models_dir.join(REC_FILE))?;
        let rec = load_weights(rec::Model::new(device), &rec_file, rec_weights::WEIGHTS)?;
        let characters = character_list(&rec_file)?;
        Ok(Self {
            detector: Detector::new(det, device),
            classifier: Classifier::new(cls, device),
            recognizer: Recognizer::new(rec, characters, device),
        })
    }

    /// Lines of `image` in reading order.
    pub fn recognize(&self, image: &RgbImage) -> Result<Vec<TextLine>, OcrError> {
        let prepared = prepare(image)?;
        let boxes = self.detector.detect(&prepared.image)?;
        let mut crops = Vec::new();
        let mut corners = Vec::new();
        for index in reading_order(&boxes) {
            let Some(crop) = crop_text_box(&prepared.image, &boxes[index]) else {
                continue;
            };
            crops.push(crop);
            corners.push(prepared.to_original(boxes[index]));
        }
        self.classifier.straighten(&mut crops)?;
        let texts = self.recognizer.recognize(&crops)?;
        Ok(corners
            .into_iter()
            .zip(texts)
            .filter(|(_, recognized)| recognized.confidence >= MIN_TEXT_SCORE)
            .map(|(bbox, recognized)| TextLine {
                text: recognized.text,
                confidence: recognized.confidence,
                bbox,
            })
            .collect())
    }

    /// Lines of each image, in reading order.
    ///
    /// Each image's crops are classified and recognized in batches of their own: the recognizer
    /// pads a batch to its widest crop, and mixing other images' crops into it changes what it
    /// reads (a line was lost that way), so an image must read the same alone or in company.
    pub fn recognize_batch(&self, images: &[&RgbImage]) -> Result<Vec<Vec<TextLine>>, OcrError> {
        images.iter().map(|image| self.recognize(image)).collect()
    }
}

/// The recognizer's characters: model metadata `character`, one per line, plus the space
/// that PaddleOCR appends (`use_space_char`).
fn character_list(rec_file: &OnnxFile) -> Result<Vec<String>, OcrError> {
    let list = rec_file
        .metadata
        .get("character")
        .ok_or_else(|| OcrError::BadModel {
            path: rec_file.path.clone(),
            problem: "no `character` metadata (the recognizer's character list)".into(),
        })?;
    let mut characters: Vec<String> = list.lines().map(str::to_owned).collect();
    characters.push(" ".into());
    Ok(characters)
}

/// rapidocr's global preprocessing: bound the size, letterbox very flat images.
fn prepare(image: &RgbImage) -> Result<Prepared, OcrError> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(OcrError::BadImage {
            width,
            height,
            problem: "the image is empty",
        });
    }
    let target = if width.max(height) > MAX_SIDE_LEN {
        Some(scaled_to_multiple_of_32(
            width,
            height,
            MAX_SIDE_LEN as f32 / width.max(height) as f32,
        ))
    } else if width.min(height) < MIN_SIDE_LEN {
        Some(scaled_to_multiple_of_32(
            width,
            height,
            MIN_SIDE_LEN as f32 / width.min(height) as f32,
        ))
    } else {
        None
    };
    let resized = match target {
        Some((w, h)) if w == 0 || h == 0 => {
            return Err(OcrError::BadImage {
                width,
                height,
                problem: "too thin to scale",
            });
        }
        Some((w, h)) => resize_bilinear(image, w, h),
        None => image.clone(),
    };
    let (w, h) = resized.dimensions();
    let padding = if h <= MIN_HEIGHT || w as f32 / h as f32 > MAX_ASPECT as f32 {
        let wanted = (w / MAX_ASPECT).max(MIN_HEIGHT) * 2;
        wanted.abs_diff(h) / 2
    } else {
        0
    };
    let padded = if padding > 0 {
        pad_vertically(&resized, padding)
    } else {
        resized
    };
    Ok(Prepared {
        image: padded,
        scale_x: width as f32 / w as f32,
        scale_y: height as f32 / h as f32,
        padding_top: padding as f32,
        original_width: width as f32,
        original_height: height as f32,
    })
}

fn scaled_to_multiple_of_32(width: u32, height: u32, ratio: f32) -> (u32, u32) {
    let side = |len: u32| (((len as f32 * ratio).trunc() / 32.0).round_ties_even() * 32.0) as u32;
    (side(width), side(height))
}

impl Prepared {
    /// A box found in the prepared image, in the original image's pixels.
    fn to_original(&self, quad: [Point; 4]) -> [Point; 4] {
        quad.map(|[x, y]| {
            [
                (x * self.scale_x).clamp(0.0, self.original_width),
                ((y - self.padding_top) * self.scale_y).clamp(0.0, self.original_height),
            ]
        })
    }
}
