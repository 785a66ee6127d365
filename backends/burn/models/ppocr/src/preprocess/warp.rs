//! Cropping a (possibly rotated) text box out of the image: rapidocr's
//! `get_rotate_crop_image` (`cv2.getPerspectiveTransform` + `cv2.warpPerspective` with
//! bicubic interpolation and replicated borders).

use image::{Rgb, RgbImage};

use crate::postprocess::Point;

/// The box `quad` (top-left, top-right, bottom-right, bottom-left) warped to an upright
/// image as wide as its longer horizontal edge and as tall as its longer vertical edge;
/// turned a quarter counter-clockwise when it is at least 1.5 times taller than wide
/// (vertical text). `None` for a degenerate box.
pub fn crop_text_box(image: &RgbImage, quad: &[Point; 4]) -> Option<RgbImage> {
    let distance = |a: Point, b: Point| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let width = distance(quad[0], quad[1]).max(distance(quad[2], quad[3])) as u32;
    let height = distance(quad[0], quad[3]).max(distance(quad[1], quad[2])) as u32;
    if width == 0 || height == 0 {
        return None;
    }
    let (w, h) = (width as f32, height as f32);
    let target = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
    let to_source = perspective_transform(&target, quad)?;
    let crop = RgbImage::from_fn(width, height, |x, y| {
        let [sx, sy] = apply(&to_source, [x as f32, y as f32]);
        sample_bicubic(image, sx, sy)
    });
    Some(if height as f32 / width as f32 >= 1.5 {
        image::imageops::rotate270(&crop)
    } else {
        crop
    })
}

/// The 3x3 homography (row-major, `h[8] = 1`) mapping each `from[i]` onto `to[i]`.
pub fn perspective_transform(from: &[Point; 4], to: &[Point; 4]) -> Option<[f64; 9]> {
    // Eight equations in the eight unknowns h0..h7:
    // u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), v likewise with h3..h5.
    let mut system = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (f64::from(from[i][0]), f64::from(from[i][1]));
        let (u, v) = (f64::from(to[i][0]), f64::from(to[i][1]));
        system[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
        system[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
    }
    let solution = solve(system)?;
    let mut h = [1.0; 9];
    h[..8].copy_from_slice(&solution);
    Some(h)
}

/// Gaussian elimination with partial pivoting on an augmented 8x9 system.
fn solve(mut system: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for column in 0..8 {
        let pivot = (column..8)
            .max_by(|&a, &b| system[a][column].abs().total_cmp(&system[b][column].abs()))?;
        if system[pivot][column].abs() < 1e-12 {
            return None;
        }
        system.swap(column, pivot);
        for row in 0..8 {
            if row != column {
                let factor = system[row][column] / system[column][column];
                let pivot_row = system[column];
                for (value, pivot_value) in system[row].iter_mut().zip(pivot_row).skip(column) {
                    *value -= factor * pivot_value;
                }
            }
        }
    }
    let mut solution = [0.0; 8];
    for (i, value) in solution.iter_mut().enumerate() {
        *value = system[i][8] / system[i][i];
    }
    Some(solution)
}

fn apply(h: &[f64; 9], [x, y]: Point) -> Point {
    let (x, y) = (f64::from(x), f64::from(y));
    let w = h[6] * x + h[7] * y + h[8];
    [
        ((h[0] * x + h[1] * y + h[2]) / w) as f32,
        ((h[3] * x + h[4] * y + h[5]) / w) as f32,
    ]
}

/// OpenCV's bicubic kernel (a = -0.75) weights for the 4 taps around a fractional offset.
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let near = |d: f32| ((A + 2.0) * d - (A + 3.0)) * d * d + 1.0;
    let far = |d: f32| ((A * d - 5.0 * A) * d + 8.0 * A) * d - 4.0 * A;
    [far(1.0 + t), near(t), near(1.0 - t), far(2.0 - t)]
}

fn sample_bicubic(image: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (x0, y0) = (x.floor(), y.floor());
    let (wx, wy) = (cubic_weights(x - x0), cubic_weights(y - y0));
    let clamp = |value: f32, len: u32| (value.max(0.0) as u32).min(len - 1);
    let mut sum = [0.0f32; 3];
    for (j, weight_y) in wy.iter().enumerate() {
        let sy = clamp(y0 + j as f32 - 1.0, image.height());
        for (i, weight_x) in wx.iter().enumerate() {
            let sx = clamp(x0 + i as f32 - 1.0, image.width());
            let pixel = image.get_pixel(sx, sy);
            for channel in 0..3 {
                sum[channel] += weight_x * weight_y * f32::from(pixel[channel]);
            }
        }
    }
    Rgb(sum.map(|value| value.round().clamp(0.0, 255.0) as u8))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 9])
        })
    }

    #[test]
    fn homography_maps_corners() {
        let from = [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]];
        let to = [[3.0, 4.0], [20.0, 2.0], [22.0, 12.0], [1.0, 11.0]];
        let h = perspective_transform(&from, &to).unwrap();
        for (a, b) in from.iter().zip(to) {
            let mapped = apply(&h, *a);
            assert!((mapped[0] - b[0]).abs() < 1e-4 && (mapped[1] - b[1]).abs() < 1e-4);
        }
    }

    #[test]
    fn axis_aligned_box_is_a_plain_crop() {
        let image = gradient(40, 30);
        let crop = crop_text_box(
            &image,
            &[[5.0, 6.0], [25.0, 6.0], [25.0, 16.0], [5.0, 16.0]],
        )
        .unwrap();
        assert_eq!(crop.dimensions(), (20, 10));
        for (x, y, pixel) in crop.enumerate_pixels() {
            assert_eq!(pixel, image.get_pixel(x + 5, y + 6));
        }
    }

    #[test]
    fn tall_boxes_are_turned_and_empty_ones_skipped() {
        let image = gradient(40, 40);
        let tall = crop_text_box(
            &image,
            &[[5.0, 0.0], [10.0, 0.0], [10.0, 30.0], [5.0, 30.0]],
        )
        .unwrap();
        assert_eq!(tall.dimensions(), (30, 5));
        assert!(crop_text_box(&image, &[[5.0, 5.0]; 4]).is_none());
    }
}
