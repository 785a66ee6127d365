//! JPEG decoding at 1/2, 1/4 or 1/8 scale in the DCT domain, with libjpeg-turbo's scaled IDCT
//! (through the `mozjpeg` crate, which builds it from source): when the output is much smaller
//! than the picture, the inverse DCT, chroma upsampling and colour conversion run on a quarter
//! (or a sixteenth, or a sixty-fourth) of the pixels, and the resize after it reads that many
//! fewer. zune-jpeg, which `image` decodes with, has no scaled IDCT.
//!
//! Only what libjpeg and the full-size path treat alike is decoded here: 8-bit YCbCr, RGB and
//! grayscale pictures with a bounded number of scans. Everything else (CMYK/YCCK, 12-bit,
//! lossless, pictures libjpeg refuses or whose header it reads differently) answers `None`,
//! and the caller decodes it in full exactly as before.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg::{ColorSpace, Decompress};

use super::shrink::reduced_len;

/// More scans than any encoder writes (libjpeg's progressive default has 10, mozjpeg's ~20),
/// fewer than a hostile file needs to make each pass over the coefficients add up. Pictures
/// with more go to the full-size decoder, as every picture did before.
const MAX_SCANS: usize = 64;

/// Decodes `bytes` (a JPEG whose header declared `width`×`height`, already checked against the
/// policy) at 1/`factor` scale, `factor` being 2, 4 or 8. `None` when this path does not take
/// the picture (see the module doc); errors of libjpeg also answer `None`, so a picture it
/// cannot read gets the full-size decoder's own verdict.
pub(crate) fn decode(bytes: &[u8], width: u32, height: u32, factor: u32) -> Option<DynamicImage> {
    let numerator = match factor {
        2 => 4,
        4 => 2,
        8 => 1,
        _ => return None,
    };
    if count_scans(bytes) > MAX_SCANS {
        return None;
    }
    // libjpeg reports fatal errors through its error_exit hook, which the mozjpeg crate turns
    // into an unwind (without running the panic hook); catching it here makes it a `None`.
    catch_unwind(AssertUnwindSafe(|| {
        decode_inner(bytes, width, height, factor, numerator)
    }))
    .ok()
    .flatten()
}

fn decode_inner(
    bytes: &[u8],
    width: u32,
    height: u32,
    factor: u32,
    numerator: u8,
) -> Option<DynamicImage> {
    let mut decoder = Decompress::new_mem(bytes).ok()?;
    if decoder.size() != (width as usize, height as usize) {
        return None;
    }
    let gray = match decoder.color_space() {
        ColorSpace::JCS_GRAYSCALE => true,
        ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB => false,
        _ => return None,
    };
    decoder.scale(numerator);
    let mut started = if gray {
        decoder.grayscale().ok()?
    } else {
        decoder.rgb().ok()?
    };
    let (w, h) = (reduced_len(width, factor), reduced_len(height, factor));
    if (started.width(), started.height()) != (w as usize, h as usize) {
        return None;
    }
    let pixels = started.read_scanlines::<u8>().ok()?;
    // A truncated scan leaves libjpeg's grey fill in the missing rows (a warning, not an
    // error), as the full-size decoder does; the rest of the file is not needed.
    drop(started);
    if gray {
        GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    }
}

/// How many start-of-scan markers the file holds. Entropy-coded data escapes every 0xFF byte,
/// so FF DA appears only as a marker (or inside a metadata segment, which can only raise the
/// count and send the picture to the full-size decoder).
fn count_scans(bytes: &[u8]) -> usize {
    // memchr's SIMD search: a byte-pair loop over a 400 KB photo was 3.5 % of its decode.
    memchr::memmem::find_iter(bytes, &[0xFF, 0xDA]).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_counted_by_marker() {
        assert_eq!(count_scans(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 0xFF, 0xDA]), 2);
        assert_eq!(count_scans(&[0xFF, 0x00, 0xDA]), 0);
    }

    #[test]
    fn other_factors_and_non_jpegs_are_declined() {
        assert!(decode(b"not a jpeg", 8, 8, 2).is_none());
        assert!(decode(&[0xFF, 0xD8, 0xFF], 8, 8, 3).is_none());
    }
}
