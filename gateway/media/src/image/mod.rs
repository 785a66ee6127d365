//! Picture normalization: detect, check, decode, orient, flatten, resize, re-encode.

mod composite;
mod decode;
mod detect;
mod geometry;
#[cfg(feature = "libjpeg-turbo")]
mod jpeg_scaled;
mod output;
mod policy;
mod resize;
mod shrink;

#[cfg(test)]
mod shrink_tests;
#[cfg(test)]
mod tests;

pub use detect::{SourceImageFormat, detect_image_format};
pub use policy::{Detail, FitMode, ImageOutput, ImagePolicy, ImageReport};

use image::metadata::Orientation;
use omnigate_backend::ImageData;

use crate::error::MediaError;

/// Decodes untrusted picture bytes and shapes them as `policy` says.
///
/// The format comes from the bytes (never a declared MIME type). The declared size is refused
/// before decoding when over the input limits. EXIF orientation is applied, transparency is
/// composited onto the background, and the result is resized (Catmull-Rom) and re-encoded or
/// turned into a tensor. `detail` defaults to [`Detail::Auto`]. With the `libjpeg-turbo`
/// feature, a JPEG at least twice as large as its output (in the resized region) is decoded at
/// 1/2, 1/4 or 1/8 scale first; sizes and the report are the same as for a full decode.
pub fn normalize_image(
    bytes: &[u8],
    policy: &ImagePolicy,
    detail: Option<Detail>,
) -> Result<(ImageData, ImageReport), MediaError> {
    normalize(bytes, policy, detail, Decode::ShrinkWhenSmaller)
}

/// Whether a JPEG much larger than its output may be decoded at reduced scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    /// Decode at the smallest 1/2, 1/4 or 1/8 scale whose pixels still cover the output.
    ShrinkWhenSmaller,
    /// Always decode every pixel (what the reduced-scale path is checked against).
    #[cfg_attr(
        not(all(test, feature = "libjpeg-turbo")),
        expect(dead_code, reason = "the tests' reference path")
    )]
    Full,
}

fn normalize(
    bytes: &[u8],
    policy: &ImagePolicy,
    detail: Option<Detail>,
    mode: Decode,
) -> Result<(ImageData, ImageReport), MediaError> {
    validate(policy)?;
    let detail = detail.unwrap_or_default();
    let source_format = detect_image_format(bytes)?;
    // The layout depends only on the upright size, so it is known before any pixel is decoded;
    // the shrink factor is chosen from it, in the upright frame (orientation may swap sides).
    let layout_for =
        |(w, h): (u32, u32)| geometry::layout(w, h, geometry::target_for(policy, detail, w, h));
    let decoded = decode::decode(
        bytes,
        source_format,
        policy,
        |w, h, orientation| match mode {
            Decode::ShrinkWhenSmaller => {
                shrink::factor_for(&layout_for(shrink::oriented(w, h, orientation)))
            }
            Decode::Full => 1,
        },
    )?;
    let (original_width, original_height) = decoded.stored_size;
    let upright = shrink::oriented(original_width, original_height, decoded.orientation);
    let layout = shrink::reduce_layout(
        &layout_for(upright),
        original_width,
        original_height,
        decoded.orientation,
        decoded.factor,
    );

    let mut picture = decoded.image;
    let orientation_applied = decoded.orientation != Orientation::NoTransforms;
    picture.apply_orientation(decoded.orientation);

    let (rgb, alpha_composited) = composite::flatten(picture, policy.background);
    let shaped = resize::apply_layout(rgb, &layout, policy.background)?;
    let data = output::produce(&shaped, &policy.output)?;

    let report = ImageReport {
        source_format,
        original_width,
        original_height,
        exif_orientation: decoded.orientation.to_exif(),
        orientation_applied,
        alpha_composited,
        output_width: shaped.width(),
        output_height: shaped.height(),
    };
    Ok((data, report))
}

/// Shapes already-decoded RGB8 pixels (a video frame) as `policy` says: the same resize and
/// output steps as [`normalize_image`], without decoding, orientation or compositing.
/// Returns the output and its `(width, height)`.
pub fn normalize_rgb(
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    policy: &ImagePolicy,
    detail: Option<Detail>,
) -> Result<(ImageData, (u32, u32)), MediaError> {
    validate(policy)?;
    let picture = image::RgbImage::from_raw(width, height, rgb).ok_or_else(|| {
        MediaError::Internal(format!(
            "a {width}x{height} frame has the wrong number of bytes"
        ))
    })?;
    let target = geometry::target_for(policy, detail.unwrap_or_default(), width, height);
    let layout = geometry::layout(width, height, target);
    let shaped = resize::apply_layout(picture, &layout, policy.background)?;
    let data = output::produce(&shaped, &policy.output)?;
    Ok((data, (shaped.width(), shaped.height())))
}

fn validate(policy: &ImagePolicy) -> Result<(), MediaError> {
    let bad = |what: &str| Err(MediaError::InvalidPolicy(what.to_owned()));
    if policy.max_side == 0 || policy.low_detail_side == 0 || policy.max_pixels == 0 {
        return bad("max_side, low_detail_side and max_pixels must be positive");
    }
    if policy.max_input_side == 0 || policy.max_input_pixels == 0 {
        return bad("max_input_side and max_input_pixels must be positive");
    }
    match &policy.output {
        ImageOutput::Jpeg { quality } if !(1..=100).contains(quality) => {
            bad("JPEG quality must be within 1..=100")
        }
        ImageOutput::Tensor { size, mean, std } => {
            if size.0 == 0 || size.1 == 0 {
                return bad("tensor size must be positive");
            }
            if std.iter().chain(mean).any(|v| !v.is_finite()) || std.contains(&0.0) {
                return bad("tensor mean/std must be finite and std non-zero");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
