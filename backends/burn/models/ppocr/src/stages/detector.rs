//! Text detection: image -> text boxes (rapidocr's `TextDetector`).

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::error::OcrError;
use crate::generated::det;
use crate::postprocess::{DbParams, Point, ProbabilityMap, boxes_from_probability_map};
use crate::preprocess::{resize_bilinear, write_normalized_bgr};

use super::read_f32;

/// The shorter image side is scaled up to at least this many pixels (`limit_type: min`).
const LIMIT_SIDE_LEN: f32 = 736.0;

/// Boxes this thin (in either direction, whole pixels) are dropped.
const MIN_BOX_SIDE: f32 = 3.0;

/// The DB detector and its postprocessing parameters.
#[derive(Debug)]
pub struct Detector {
    model: det::Model,
    params: DbParams,
    device: Device,
}

impl Detector {
    /// Wraps a loaded detection network.
    pub fn new(model: det::Model, device: &Device) -> Self {
        Self {
            model,
            params: DbParams::default(),
            device: device.clone(),
        }
    }

    /// Text boxes of `image` in its pixel coordinates, corners clockwise from top-left,
    /// in no particular order.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<[Point; 4]>, OcrError> {
        let (width, height) = network_input_size(image.width(), image.height());
        let resized = resize_bilinear(image, width, height);
        let (w, h) = (width as usize, height as usize);
        let mut input = vec![0.0f32; 3 * w * h];
        write_normalized_bgr(&resized, &mut input, w, h);
        let input = Tensor::<4>::from_data(TensorData::new(input, [1, 3, h, w]), &self.device);
        let probabilities = read_f32(self.model.forward(input), "detection")?;
        let map = ProbabilityMap {
            values: &probabilities,
            width: w,
            height: h,
        };
        let (dest_w, dest_h) = (image.width() as usize, image.height() as usize);
        let boxes = boxes_from_probability_map(map, dest_w, dest_h, &self.params);
        Ok(boxes
            .into_iter()
            .map(|quad| clip_to_image(quad, image.width(), image.height()))
            .filter(|quad| {
                let side = |a: Point, b: Point| {
                    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2))
                        .sqrt()
                        .trunc()
                };
                side(quad[0], quad[1]) > MIN_BOX_SIDE && side(quad[0], quad[3]) > MIN_BOX_SIDE
            })
            .collect())
    }
}

/// Network input size: shorter side scaled up to [`LIMIT_SIDE_LEN`], both sides rounded to
/// a multiple of 32 (the network downsamples 32 times).
pub fn network_input_size(width: u32, height: u32) -> (u32, u32) {
    let shorter = width.min(height) as f32;
    let ratio = if shorter < LIMIT_SIDE_LEN {
        LIMIT_SIDE_LEN / shorter
    } else {
        1.0
    };
    let round_to_32 = |side: u32| {
        let scaled = (side as f32 * ratio).trunc();
        ((scaled / 32.0).round_ties_even() * 32.0).max(32.0) as u32
    };
    (round_to_32(width), round_to_32(height))
}

/// rapidocr's `order_points_clockwise` + `clip_det_res`: corners to top-left, top-right,
/// bottom-right, bottom-left, then truncated to whole pixels inside the image.
fn clip_to_image(quad: [Point; 4], width: u32, height: u32) -> [Point; 4] {
    let mut by_x = quad;
    by_x.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let by_y = |mut pair: [Point; 2]| {
        pair.sort_by(|a, b| a[1].total_cmp(&b[1]));
        pair
    };
    let [top_left, bottom_left] = by_y([by_x[0], by_x[1]]);
    let [top_right, bottom_right] = by_y([by_x[2], by_x[3]]);
    let max_x = width.saturating_sub(1) as f32;
    let max_y = height.saturating_sub(1) as f32;
    [top_left, top_right, bottom_right, bottom_left]
        .map(|[x, y]| [x.clamp(0.0, max_x).trunc(), y.clamp(0.0, max_y).trunc()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_images_are_scaled_up_to_736_and_rounded_to_32() {
        // 400 x 100: ratio 7.36 -> 2944 x 736.
        assert_eq!(network_input_size(400, 100), (2944, 736));
        // Large enough: only rounding, 1000 / 32 = 31.25 -> 992; 750 / 32 = 23.4 -> 736.
        assert_eq!(network_input_size(1000, 750), (992, 736));
    }

    #[test]
    fn corners_are_reordered_and_clipped() {
        let quad = [[110.0, 20.0], [-3.0, 1.5], [105.0, -2.0], [0.0, 25.7]];
        assert_eq!(
            clip_to_image(quad, 100, 25),
            [[0.0, 1.0], [99.0, 0.0], [99.0, 20.0], [0.0, 24.0]]
        );
    }
}
