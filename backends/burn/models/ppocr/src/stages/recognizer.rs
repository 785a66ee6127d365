//! Text recognition: crops -> text with confidence (rapidocr's `TextRecognizer`).

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::error::OcrError;
use crate::generated::rec;
use crate::postprocess::ctc_greedy_decode;
use crate::preprocess::{resize_bilinear, write_normalized_bgr};

use super::read_f32;

/// Input height of the recognizer.
const HEIGHT: u32 = 48;
/// Batches are at least this wide (`rec_img_shape` 3 x 48 x 320).
const MIN_WIDTH: u32 = 320;
/// Crops per forward pass. Crops are padded to the widest in their batch, which changes the
/// scores slightly, so this stays at rapidocr's `rec_batch_num` to agree with it.
const BATCH: usize = 6;

/// A recognized crop.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognized {
    /// The text.
    pub text: String,
    /// Mean probability of its characters.
    pub confidence: f32,
}

/// The CTC recognizer and its character list.
#[derive(Debug)]
pub struct Recognizer {
    model: rec::Model,
    /// Class `i + 1` is `characters[i]`; class 0 is the CTC blank.
    characters: Vec<String>,
    device: Device,
}

impl Recognizer {
    /// Wraps a loaded recognition network with its character list (without the blank).
    pub fn new(model: rec::Model, characters: Vec<String>, device: &Device) -> Self {
        Self {
            model,
            characters,
            device: device.clone(),
        }
    }

    /// Number of output classes the character list implies (blank + characters).
    pub fn classes(&self) -> usize {
        self.characters.len() + 1
    }

    /// Text of every crop, in the order given. Crops of similar aspect ratio are batched
    /// together so little padding is computed.
    pub fn recognize(&self, crops: &[RgbImage]) -> Result<Vec<Recognized>, OcrError> {
        let aspect = |crop: &RgbImage| crop.width() as f32 / crop.height() as f32;
        let mut order: Vec<usize> = (0..crops.len()).collect();
        order.sort_by(|&a, &b| aspect(&crops[a]).total_cmp(&aspect(&crops[b])));
        let mut results = vec![
            Recognized {
                text: String::new(),
                confidence: 0.0
            };
            crops.len()
        ];
        for batch in order.chunks(BATCH) {
            let widest = batch.iter().map(|&i| aspect(&crops[i])).fold(0.0, f32::max);
            let width = ((HEIGHT as f32 * widest) as u32).max(MIN_WIDTH) as usize;
            let h = HEIGHT as usize;
            let plane = 3 * width * h;
            let mut input = vec![0.0f32; batch.len() * plane];
            for (&index, slot) in batch.iter().zip(input.chunks_exact_mut(plane)) {
                let crop = &crops[index];
                let resized_width =
                    ((HEIGHT as f32 * aspect(crop)).ceil() as u32).clamp(1, width as u32);
                write_normalized_bgr(
                    &resize_bilinear(crop, resized_width, HEIGHT),
                    slot,
                    width,
                    h,
                );
            }
            let shape = [batch.len(), 3, h, width];
            let input = Tensor::<4>::from_data(TensorData::new(input, shape), &self.device);
            let output = self.model.forward(input);
            let [_, steps, classes] = output.dims();
            if classes != self.classes() {
                return Err(OcrError::Output {
                    stage: "recognition",
                    problem: format!(
                        "{classes} classes, the character list implies {}",
                        self.classes()
                    ),
                });
            }
            let probabilities = read_f32(output, "recognition")?;
            for (&index, rows) in batch
                .iter()
                .zip(probabilities.chunks_exact(steps * classes))
            {
                let decoded = ctc_greedy_decode(rows, classes, &self.characters);
                results[index] = Recognized {
                    text: decoded.text,
                    confidence: decoded.confidence,
                };
            }
        }
        Ok(results)
    }
}
