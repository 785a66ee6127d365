//! DB (Differentiable Binarization) postprocessing: probability map -> text boxes, as in
//! PaddleOCR / rapidocr's `DBPostProcess` with `score_mode = fast` and dilation on.

use super::components::Bitmap;
use super::min_area_rect::{Point, RotatedRect, min_area_rect, order_box_corners};

/// Thresholds of the DB postprocess (rapidocr's `config.yaml` defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbParams {
    /// Probability above which a pixel is text.
    pub thresh: f32,
    /// Minimum mean probability inside a candidate box.
    pub box_thresh: f32,
    /// How far a box is grown, relative to area / perimeter (DB shrinks text regions in training).
    pub unclip_ratio: f32,
    /// At most this many candidate regions are looked at.
    pub max_candidates: usize,
}

impl Default for DbParams {
    fn default() -> Self {
        Self {
            thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
            max_candidates: 1000,
        }
    }
}

/// Boxes whose shorter side is below this (in probability-map pixels) are noise.
const MIN_SIZE: f32 = 3.0;

/// A probability map of `width * height` values in `[0, 1]`, row-major.
#[derive(Debug, Clone, Copy)]
pub struct ProbabilityMap<'a> {
    /// Values.
    pub values: &'a [f32],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Text boxes found in `map`, scaled to an image of `dest_width x dest_height`, corners
/// top-left, top-right, bottom-right, bottom-left, rounded to whole pixels like rapidocr.
pub fn boxes_from_probability_map(
    map: ProbabilityMap<'_>,
    dest_width: usize,
    dest_height: usize,
    params: &DbParams,
) -> Vec<[Point; 4]> {
    let mask = Bitmap::threshold(map.values, map.width, map.height, params.thresh).dilate_2x2();
    let scale_x = dest_width as f32 / map.width as f32;
    let scale_y = dest_height as f32 / map.height as f32;
    let mut boxes = Vec::new();
    for outline in mask
        .component_outlines()
        .into_iter()
        .take(params.max_candidates)
    {
        let Some(rect) = min_area_rect(&outline) else {
            continue;
        };
        if rect.short_side() < MIN_SIZE {
            continue;
        }
        let corners = order_box_corners(rect.corners);
        if box_score_fast(map, &corners) < params.box_thresh {
            continue;
        }
        let grown = unclip(&rect, params.unclip_ratio);
        let Some(grown) = min_area_rect(&grown.corners) else {
            continue;
        };
        if grown.short_side() < MIN_SIZE + 2.0 {
            continue;
        }
        let scaled = order_box_corners(grown.corners).map(|[x, y]| {
            [
                (x * scale_x)
                    .round_ties_even()
                    .clamp(0.0, dest_width as f32),
                (y * scale_y)
                    .round_ties_even()
                    .clamp(0.0, dest_height as f32),
            ]
        });
        boxes.push(scaled);
    }
    boxes
}

/// Grows a rectangle on every side by `area * ratio / perimeter`. rapidocr offsets the polygon
/// with round joins (pyclipper) and takes the min-area rectangle of the result; for a
/// rectangle that is exactly the rectangle grown by the same distance, so no general polygon
/// offsetting is needed.
pub fn unclip(rect: &RotatedRect, ratio: f32) -> RotatedRect {
    let perimeter = 2.0 * (rect.width + rect.height);
    if perimeter == 0.0 {
        return *rect;
    }
    let distance = rect.width * rect.height * ratio / perimeter;
    let [c0, c1, c2, c3] = rect.corners;
    let unit = |from: Point, to: Point, length: f32| {
        if length == 0.0 {
            [0.0, 0.0]
        } else {
            [(to[0] - from[0]) / length, (to[1] - from[1]) / length]
        }
    };
    let along = unit(c0, c1, rect.width);
    let across = unit(c1, c2, rect.height);
    let shift = |point: Point, sign_along: f32, sign_across: f32| {
        [
            point[0] + distance * (sign_along * along[0] + sign_across * across[0]),
            point[1] + distance * (sign_along * along[1] + sign_across * across[1]),
        ]
    };
    RotatedRect {
        corners: [
            shift(c0, -1.0, -1.0),
            shift(c1, 1.0, -1.0),
            shift(c2, 1.0, 1.0),
            shift(c3, -1.0, 1.0),
        ],
        width: rect.width + 2.0 * distance,
        height: rect.height + 2.0 * distance,
    }
}

/// Mean probability inside the box (corners truncated to whole pixels, edges included, as
/// `cv2.fillPoly` + `cv2.mean` do).
fn box_score_fast(map: ProbabilityMap<'_>, corners: &[Point; 4]) -> f32 {
    let clamp_x = |value: f32| (value as i64).clamp(0, map.width as i64 - 1);
    let clamp_y = |value: f32| (value as i64).clamp(0, map.height as i64 - 1);
    let xs = corners.map(|c| c[0]);
    let ys = corners.map(|c| c[1]);
    let x_min = clamp_x(xs.iter().copied().fold(f32::MAX, f32::min).floor());
    let x_max = clamp_x(xs.iter().copied().fold(f32::MIN, f32::max).ceil());
    let y_min = clamp_y(ys.iter().copied().fold(f32::MAX, f32::min).floor());
    let y_max = clamp_y(ys.iter().copied().fold(f32::MIN, f32::max).ceil());
    // fillPoly sees the corners relative to the crop, truncated towards zero.
    let polygon = corners.map(|[x, y]| [(x - x_min as f32).trunc(), (y - y_min as f32).trunc()]);
    let (mut sum, mut count) = (0.0f64, 0usize);
    for y in y_min..=y_max {
        for x in x_min..=x_max {
            if inside_convex(&polygon, [(x - x_min) as f32, (y - y_min) as f32]) {
                sum += f64::from(map.values[y as usize * map.width + x as usize]);
                count += 1;
            }
        }
    }
    if count == 0 {
        0.0
    } else {
        (sum / count as f64) as f32
    }
}

/// Whether `point` is inside or on the border of a convex polygon of either orientation.
fn inside_convex(polygon: &[Point; 4], point: Point) -> bool {
    let (mut positive, mut negative) = (false, false);
    for index in 0..4 {
        let a = polygon[index];
        let b = polygon[(index + 1) % 4];
        let cross = (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0]);
        positive |= cross > 0.0;
        negative |= cross < 0.0;
    }
    !(positive && negative)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unclip_grows_each_side_by_area_ratio_over_perimeter() {
        let rect = RotatedRect {
            corners: [[10.0, 10.0], [30.0, 10.0], [30.0, 20.0], [10.0, 20.0]],
            width: 20.0,
            height: 10.0,
        };
        // distance = 200 * 1.5 / 60 = 5
        let grown = unclip(&rect, 1.5);
        assert_eq!(
            grown.corners,
            [[5.0, 5.0], [35.0, 5.0], [35.0, 25.0], [5.0, 25.0]]
        );
        assert_eq!((grown.width, grown.height), (30.0, 20.0));
    }

    #[test]
    fn unclip_follows_rotation() {
        let rect = RotatedRect {
            corners: [[0.0, 0.0], [3.0, 4.0], [-1.0, 7.0], [-4.0, 3.0]],
            width: 5.0,
            height: 5.0,
        };
        let grown = unclip(&rect, 2.0); // distance = 25 * 2 / 20 = 2.5
        let side = |a: Point, b: Point| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        assert!((side(grown.corners[0], grown.corners[1]) - 10.0).abs() < 1e-4);
        assert!((side(grown.corners[1], grown.corners[2]) - 10.0).abs() < 1e-4);
    }

    #[test]
    fn finds_one_box_per_blob_and_scales_it() {
        let (width, height) = (40, 20);
        let mut values = vec![0.0f32; width * height];
        for y in 5..11 {
            for x in 4..30 {
                values[y * width + x] = 0.9;
            }
        }
        let map = ProbabilityMap {
            values: &values,
            width,
            height,
        };
        let boxes = boxes_from_probability_map(map, 80, 40, &DbParams::default());
        assert_eq!(boxes.len(), 1);
        let [tl, tr, br, bl] = boxes[0];
        // The blob spans x 4..=30, y 5..=11 after dilation; unclip adds
        // 26 * 6 * 1.6 / 64 = 3.9 per side, then everything doubles.
        assert!(
            tl[0] < 8.0 && tl[1] < 10.0 && br[0] > 60.0 && br[1] > 22.0,
            "{:?}",
            boxes[0]
        );
        assert_eq!((tl[1], tr[1]), (tl[1], tl[1]));
        assert_eq!((bl[0], br[1]), (tl[0], br[1]));
    }

    #[test]
    fn weak_and_tiny_regions_are_dropped() {
        let (width, height) = (30, 30);
        let mut values = vec![0.0f32; width * height];
        // Above `thresh` but mean below `box_thresh`.
        for y in 2..10 {
            for x in 2..20 {
                values[y * width + x] = 0.4;
            }
        }
        // Strong but only 2 pixels tall (3 after dilation, grows but stays under min size).
        values[20 * width + 5] = 0.9;
        let map = ProbabilityMap {
            values: &values,
            width,
            height,
        };
        assert!(boxes_from_probability_map(map, 30, 30, &DbParams::default()).is_empty());
    }
}
