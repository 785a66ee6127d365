//! Image resizing and conversion to network input, matching OpenCV's defaults.

use image::RgbImage;

/// Resizes like `cv2.resize(.., INTER_LINEAR)`: bilinear on half-pixel centres, edge pixels
/// replicated, no antialiasing when shrinking (the networks were trained on such input).
pub fn resize_bilinear(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let xs = sample_positions(image.width(), width);
    let ys = sample_positions(image.height(), height);
    let source = image.as_raw();
    let stride = image.width() as usize * 3;
    let mut out = Vec::with_capacity(width as usize * height as usize * 3);
    for &(y0, y1, fy) in &ys {
        let (row0, row1) = (
            &source[y0 * stride..][..stride],
            &source[y1 * stride..][..stride],
        );
        for &(x0, x1, fx) in &xs {
            for channel in 0..3 {
                let at = |row: &[u8], x: usize| f32::from(row[x * 3 + channel]);
                let top = at(row0, x0) + (at(row0, x1) - at(row0, x0)) * fx;
                let bottom = at(row1, x0) + (at(row1, x1) - at(row1, x0)) * fx;
                out.push((top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    // The buffer has exactly width * height * 3 bytes, so this cannot fail.
    RgbImage::from_raw(width, height, out).unwrap_or_else(|| RgbImage::new(width, height))
}

/// For each output coordinate: the two source neighbours and the weight of the second.
fn sample_positions(source_len: u32, target_len: u32) -> Vec<(usize, usize, f32)> {
    let scale = source_len as f64 / target_len as f64;
    let last = source_len.saturating_sub(1) as usize;
    (0..target_len)
        .map(|target| {
            let position = ((target as f64 + 0.5) * scale - 0.5).max(0.0);
            let first = (position.floor() as usize).min(last);
            let second = (first + 1).min(last);
            (first, second, (position - first as f64) as f32)
        })
        .collect()
}

/// Writes `image` into a zero-padded `3 x plane_height x plane_width` buffer as the
/// PaddleOCR networks want it: BGR channel order (rapidocr feeds OpenCV images), values
/// scaled to `[-1, 1]` (mean 0.5, std 0.5), left-aligned.
pub fn write_normalized_bgr(
    image: &RgbImage,
    out: &mut [f32],
    plane_width: usize,
    plane_height: usize,
) {
    let plane = plane_width * plane_height;
    let width = (image.width() as usize).min(plane_width);
    for (y, row) in image.rows().enumerate().take(plane_height) {
        for (x, pixel) in row.enumerate().take(width) {
            let offset = y * plane_width + x;
            for (bgr_channel, rgb_channel) in [2, 1, 0].into_iter().enumerate() {
                out[bgr_channel * plane + offset] = f32::from(pixel[rgb_channel]) / 127.5 - 1.0;
            }
        }
    }
}

/// Pads with black rows above and below (rapidocr's letterbox for very flat images).
pub fn pad_vertically(image: &RgbImage, padding: u32) -> RgbImage {
    let mut padded = RgbImage::new(image.width(), image.height() + 2 * padding);
    image::imageops::replace(&mut padded, image, 0, i64::from(padding));
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_interpolates_between_neighbours() {
        let image = RgbImage::from_raw(2, 1, vec![0, 0, 0, 100, 100, 100]).unwrap_or_default();
        let resized = resize_bilinear(&image, 4, 1);
        // Half-pixel centres: outputs sit at source x = -0.25, 0.25, 0.75, 1.25.
        let reds: Vec<u8> = resized.pixels().map(|p| p[0]).collect();
        assert_eq!(reds, vec![0, 25, 75, 100]);
    }

    #[test]
    fn halving_picks_between_pairs_without_antialiasing() {
        let image = RgbImage::from_fn(4, 1, |x, _| image::Rgb([(x * 40) as u8; 3]));
        let reds: Vec<u8> = resize_bilinear(&image, 2, 1)
            .pixels()
            .map(|p| p[0])
            .collect();
        assert_eq!(reds, vec![20, 100]);
    }

    #[test]
    fn normalization_is_bgr_in_minus_one_to_one_and_padded() {
        let image = RgbImage::from_raw(1, 1, vec![255, 0, 51]).unwrap_or_default();
        let mut out = vec![0.0; 3 * 2];
        write_normalized_bgr(&image, &mut out, 2, 1);
        let expected = [-0.6, 0.0, -1.0, 0.0, 1.0, 0.0];
        assert!(
            out.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
            "{out:?}"
        );
    }
}
