//! Producing the model-facing form of clean RGB pixels: a fresh JPEG/PNG file (never the
//! client's bytes, so no hostile metadata travels on) or a normalized CHW tensor.

use std::sync::Arc;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};
use omnigate_backend::{EncodedImage, ImageData, ImageFormat, ImageTensor};

use super::policy::ImageOutput;
use crate::error::MediaError;

/// Encodes or tensorizes `rgb` as `output` asks.
pub(crate) fn produce(rgb: &RgbImage, output: &ImageOutput) -> Result<ImageData, MediaError> {
    let (width, height) = rgb.dimensions();
    let encoded = |format, bytes: Vec<u8>| {
        ImageData::Encoded(EncodedImage {
            format,
            bytes: Arc::from(bytes),
            width,
            height,
        })
    };
    let internal = |e: image::ImageError| MediaError::Internal(format!("re-encoding: {e}"));
    match output {
        ImageOutput::Jpeg { quality } => {
            let mut bytes = Vec::new();
            JpegEncoder::new_with_quality(&mut bytes, *quality)
                .write_image(rgb.as_raw(), width, height, ExtendedColorType::Rgb8)
                .map_err(internal)?;
            Ok(encoded(ImageFormat::Jpeg, bytes))
        }
        ImageOutput::Png => {
            let mut bytes = Vec::new();
            PngEncoder::new(&mut bytes)
                .write_image(rgb.as_raw(), width, height, ExtendedColorType::Rgb8)
                .map_err(internal)?;
            Ok(encoded(ImageFormat::Png, bytes))
        }
        ImageOutput::Tensor { mean, std, .. } => Ok(ImageData::Tensor(tensor(rgb, *mean, *std))),
    }
}

/// `[3, height, width]`, channel-major, each value `(x / 255 - mean[c]) / std[c]`.
fn tensor(rgb: &RgbImage, mean: [f32; 3], std: [f32; 3]) -> ImageTensor {
    let (width, height) = rgb.dimensions();
    let plane = width as usize * height as usize;
    let mut data = vec![0f32; 3 * plane];
    let scale = std.map(|s| 1.0 / (255.0 * s));
    let shift = [0, 1, 2].map(|c| mean[c] / std[c]);
    for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            data[c * plane + i] = f32::from(px[c]) * scale[c] - shift[c];
        }
    }
    ImageTensor {
        channels: 3,
        height,
        width,
        data: Arc::from(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_is_chw_and_normalized() {
        let mut rgb = RgbImage::new(2, 1);
        rgb.put_pixel(0, 0, image::Rgb([255, 0, 51]));
        rgb.put_pixel(1, 0, image::Rgb([0, 255, 102]));
        let mean = [0.5, 0.25, 0.0];
        let std = [0.5, 0.25, 2.0];
        let t = tensor(&rgb, mean, std);
        assert_eq!((t.channels, t.height, t.width), (3, 1, 2));
        let expect = [
            1.0, -1.0, // R plane: (1-0.5)/0.5, (0-0.5)/0.5
            -1.0, 3.0, // G plane: (0-0.25)/0.25, (1-0.25)/0.25
            0.1, 0.2, // B plane: 0.2/2, 0.4/2
        ];
        for (got, want) in t.data.iter().zip(expect) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn encodes_fresh_files() {
        let rgb = RgbImage::from_pixel(4, 3, image::Rgb([1, 2, 3]));
        let ImageData::Encoded(png) = produce(&rgb, &ImageOutput::Png).unwrap() else {
            panic!("expected a file");
        };
        assert_eq!(
            (png.format, png.width, png.height),
            (ImageFormat::Png, 4, 3)
        );
        assert!(png.bytes.starts_with(b"\x89PNG"));
        let ImageData::Encoded(jpg) = produce(&rgb, &ImageOutput::Jpeg { quality: 80 }).unwrap()
        else {
            panic!("expected a file");
        };
        assert!(jpg.bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
    }
}
