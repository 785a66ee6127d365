//! Text direction classification: turns crops that read upside down (rapidocr's
//! `TextClassifier`).

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::error::OcrError;
use crate::generated::cls;
use crate::preprocess::{resize_bilinear, write_normalized_bgr};

use super::read_f32;

/// Input height of the classifier.
const HEIGHT: u32 = 48;
/// Input width; narrower crops are zero-padded on the right, wider ones squeezed.
const WIDTH: u32 = 192;
/// A crop is turned only when the network is at least this sure it is upside down.
const FLIP_THRESHOLD: f32 = 0.9;
/// Crops per forward pass (bounds memory; the result does not depend on it).
const BATCH: usize = 16;

/// The direction classifier.
#[derive(Debug)]
pub struct Classifier {
    model: cls::Model,
    device: Device,
}

impl Classifier {
    /// Wraps a loaded classification network.
    pub fn new(model: cls::Model, device: &Device) -> Self {
        Self {
            model,
            device: device.clone(),
        }
    }

    /// Turns by 180 degrees every crop classified as upside down.
    pub fn straighten(&self, crops: &mut [RgbImage]) -> Result<(), OcrError> {
        for batch in crops.chunks_mut(BATCH) {
            let (w, h) = (WIDTH as usize, HEIGHT as usize);
            let plane = 3 * w * h;
            let mut input = vec![0.0f32; batch.len() * plane];
            for (crop, slot) in batch.iter().zip(input.chunks_exact_mut(plane)) {
                let ratio = crop.width() as f32 / crop.height() as f32;
                let width = ((HEIGHT as f32 * ratio).ceil() as u32).clamp(1, WIDTH);
                write_normalized_bgr(&resize_bilinear(crop, width, HEIGHT), slot, w, h);
            }
            let shape = [batch.len(), 3, h, w];
            let input = Tensor::<4>::from_data(TensorData::new(input, shape), &self.device);
            let scores = read_f32(self.model.forward(input), "classification")?;
            for (crop, pair) in batch.iter_mut().zip(scores.chunks_exact(2)) {
                // Labels are ["0", "180"].
                if pair[1] > pair[0] && pair[1] > FLIP_THRESHOLD {
                    *crop = image::imageops::rotate180(crop);
                }
            }
        }
        Ok(())
    }
}
