//! Decoding untrusted picture bytes under limits: the declared size is read from the header and
//! checked against the policy before a single pixel is decoded, then the decoder runs with
//! `image::Limits` as a second guard. A JPEG much larger than its output may be decoded at
//! reduced scale instead (`jpeg_scaled`, with the `libjpeg-turbo` feature), once the same
//! checks have passed.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, metadata::Orientation};

use super::detect::SourceImageFormat;
use super::policy::ImagePolicy;
use crate::error::{MediaError, MediaKind};

/// Reading headers needs little memory; this only bounds metadata chunks (ICC, EXIF, text).
const HEADER_ALLOC: u64 = 64 * 1024 * 1024;
/// Decoders allocate some working memory besides the output (e.g. progressive JPEG coefficients).
const DECODE_SLACK: u64 = 32 * 1024 * 1024;

/// A decoded picture as stored, with what its metadata says about it.
pub(crate) struct Decoded {
    /// The pixels, not yet oriented: the stored size, or that size divided by `factor`.
    pub image: DynamicImage,
    /// The size the file declares (and the pixels have when `factor` is 1).
    pub stored_size: (u32, u32),
    /// The EXIF orientation (or the format's equivalent).
    pub orientation: Orientation,
    /// 1, or the 2, 4 or 8 the picture was shrunk by while decoding (JPEG only).
    pub factor: u32,
}

/// Reads the declared size, refuses it if over the policy's limits, then decodes the first frame.
///
/// `shrink` is asked, with the stored size and orientation, by how much (1, 2, 4 or 8) the
/// picture may be shrunk while decoding; only JPEGs act on its answer, and they fall back to
/// the full size when the scaled decoder declines.
pub(crate) fn decode(
    bytes: &[u8],
    format: SourceImageFormat,
    policy: &ImagePolicy,
    shrink: impl FnOnce(u32, u32, Orientation) -> u32,
) -> Result<Decoded, MediaError> {
    let mut header_limits = Limits::default();
    header_limits.max_alloc = Some(HEADER_ALLOC);
    let (width, height) = reader(bytes, format, header_limits)
        .into_dimensions()
        .map_err(|e| header_error(e, format))?;
    check_declared_size(width, height, policy)?;

    // The header passed our limits, so these strict limits only trip on a lying or odd decoder.
    let mut limits = Limits::default();
    limits.max_image_width = Some(policy.max_input_side);
    limits.max_image_height = Some(policy.max_input_side);
    let pixels = u64::from(width) * u64::from(height);
    // 16 bytes per pixel is the widest colour type (RGBA f32); twice that plus slack covers the
    // output buffer and the decoder's working memory.
    limits.max_alloc = Some(pixels.saturating_mul(32).saturating_add(DECODE_SLACK));
    let too_large = |limit: String| MediaError::ImageTooLarge {
        width,
        height,
        limit,
    };

    let mut decoder = reader(bytes, format, limits)
        .into_decoder()
        .map_err(|e| match e {
            ImageError::Limits(l) => too_large(format!("the decoder's limits ({l})")),
            other => decode_error(other),
        })?;
    if decoder.dimensions() != (width, height) {
        return Err(MediaError::corrupt(
            MediaKind::Image,
            "the picture's size changed between reads",
        ));
    }
    // A damaged EXIF block should not cost the client the whole picture: treat it as upright.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let decoded = |image, factor| Decoded {
        image,
        stored_size: (width, height),
        orientation,
        factor,
    };
    #[cfg(feature = "libjpeg-turbo")]
    if format == SourceImageFormat::Jpeg {
        let factor = shrink(width, height, orientation);
        if factor > 1
            && let Some(image) = super::jpeg_scaled::decode(bytes, width, height, factor)
        {
            return Ok(decoded(image, factor));
        }
    }
    // Without libjpeg-turbo, every decoder works at full size.
    #[cfg(not(feature = "libjpeg-turbo"))]
    let _ = shrink;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(l) => too_large(format!("the decoder's memory limit ({l})")),
        other => decode_error(other),
    })?;
    Ok(decoded(image, 1))
}

fn reader(bytes: &[u8], format: SourceImageFormat, limits: Limits) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image_format());
    reader.limits(limits);
    reader
}

/// Refuses declared sizes over the policy, naming the size and the limit.
pub(crate) fn check_declared_size(
    width: u32,
    height: u32,
    policy: &ImagePolicy,
) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::corrupt(
            MediaKind::Image,
            format!("the header declares an empty {width}x{height} picture"),
        ));
    }
    let too_large = |limit: String| {
        Err(MediaError::ImageTooLarge {
            width,
            height,
            limit,
        })
    };
    if width > policy.max_input_side || height > policy.max_input_side {
        return too_large(format!("{} pixels per side", policy.max_input_side));
    }
    if u64::from(width) * u64::from(height) > policy.max_input_pixels {
        return too_large(format!("{} pixels in total", policy.max_input_pixels));
    }
    Ok(())
}

fn header_error(error: ImageError, format: SourceImageFormat) -> MediaError {
    match error {
        ImageError::Limits(l) => MediaError::corrupt(
            MediaKind::Image,
            format!(
                "the {} header's metadata is too large ({l})",
                format.as_str()
            ),
        ),
        other => decode_error(other),
    }
}

/// Maps a decoder failure to the client-facing error.
pub(crate) fn decode_error(error: ImageError) -> MediaError {
    match error {
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::corrupt(MediaKind::Image, "the file ends too early (truncated)")
        }
        ImageError::Unsupported(e) => MediaError::unsupported(MediaKind::Image, e.to_string()),
        ImageError::Parameter(e) => MediaError::corrupt(MediaKind::Image, e),
        ImageError::Decoding(e) => MediaError::corrupt(MediaKind::Image, e),
        ImageError::IoError(e) => MediaError::corrupt(MediaKind::Image, e),
        ImageError::Limits(e) => MediaError::corrupt(MediaKind::Image, e),
        ImageError::Encoding(e) => MediaError::Internal(e.to_string()),
    }
}
