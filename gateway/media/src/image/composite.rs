//! Flattening any decoded colour type to opaque 8-bit RGB, compositing transparency (alpha
//! channels, and PNG/GIF tRNS which the decoders expand to alpha) onto the policy's background.
//! Models are trained on opaque pictures; leaving alpha to a later conversion would turn
//! transparent areas into whatever colour happened to be stored under them (often black).

use image::{DynamicImage, RgbImage};

/// Returns the opaque RGB picture and whether any pixel was (partly) transparent.
pub(crate) fn flatten(image: DynamicImage, background: [u8; 3]) -> (RgbImage, bool) {
    if !image.color().has_alpha() {
        return (image.into_rgb8(), false);
    }
    let rgba = image.into_rgba8();
    let (width, height) = rgba.dimensions();
    let mut any_transparent = false;
    let mut rgb = Vec::with_capacity(rgba.as_raw().len() / 4 * 3);
    for px in rgba.as_raw().chunks_exact(4) {
        let alpha = u32::from(px[3]);
        any_transparent |= alpha < 255;
        for (c, bg) in px[..3].iter().zip(background) {
            // Straight (non-premultiplied) alpha "over", rounded to nearest.
            let v = (u32::from(*c) * alpha + u32::from(bg) * (255 - alpha) + 127) / 255;
            rgb.push(v as u8);
        }
    }
    match RgbImage::from_raw(width, height, rgb) {
        Some(image) => (image, any_transparent),
        // Unreachable: the buffer has exactly 3 bytes per pixel; fall back to dropping alpha.
        None => (DynamicImage::ImageRgba8(rgba).into_rgb8(), any_transparent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

    #[test]
    fn transparent_pixels_take_the_background() {
        let mut img = RgbaImage::new(3, 1);
        img.put_pixel(0, 0, Rgba([0, 0, 0, 0]));
        img.put_pixel(1, 0, Rgba([200, 100, 0, 255]));
        img.put_pixel(2, 0, Rgba([0, 0, 0, 128]));
        let (rgb, transparent) = flatten(DynamicImage::ImageRgba8(img), [255, 0, 255]);
        assert!(transparent);
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 0, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [200, 100, 0]);
        assert_eq!(rgb.get_pixel(2, 0).0, [127, 0, 127]);
    }

    #[test]
    fn opaque_pictures_pass_through() {
        let img = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(2, 2, image::Luma([9])));
        let (rgb, transparent) = flatten(img, [255, 255, 255]);
        assert!(!transparent);
        assert_eq!(rgb.get_pixel(1, 1).0, [9, 9, 9]);
    }
}
