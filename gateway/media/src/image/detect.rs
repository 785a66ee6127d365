//! Picture format detection from the leading bytes alone: a client's MIME type or file name is
//! never trusted, because a mislabeled file must still be decoded by the right (or no) decoder.

use crate::error::{MediaError, MediaKind};

/// A picture format the gateway accepts as input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceImageFormat {
    /// JPEG / JFIF / EXIF.
    Jpeg,
    /// PNG (the first frame of an APNG).
    Png,
    /// WebP, lossy or lossless (the first frame of an animation).
    WebP,
    /// GIF (the first frame).
    Gif,
    /// Windows bitmap.
    Bmp,
    /// TIFF (the first page).
    Tiff,
}

impl SourceImageFormat {
    /// The usual short name (`"jpeg"`, `"png"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::WebP => "webp",
            Self::Gif => "gif",
            Self::Bmp => "bmp",
            Self::Tiff => "tiff",
        }
    }

    pub(crate) fn to_image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::WebP => image::ImageFormat::WebP,
            Self::Gif => image::ImageFormat::Gif,
            Self::Bmp => image::ImageFormat::Bmp,
            Self::Tiff => image::ImageFormat::Tiff,
        }
    }
}

const ACCEPTED: &str = "send JPEG, PNG, WebP, GIF, BMP or TIFF";

/// Names the format of `bytes`, or says why it is not a picture this gateway decodes.
pub fn detect_image_format(bytes: &[u8]) -> Result<SourceImageFormat, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty(MediaKind::Image));
    }
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Ok(SourceImageFormat::Jpeg);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Ok(SourceImageFormat::Png);
    }
    if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Ok(SourceImageFormat::WebP);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Ok(SourceImageFormat::Gif);
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Ok(SourceImageFormat::Tiff);
    }
    if starts(b"BM") && has_bmp_info_header(bytes) {
        return Ok(SourceImageFormat::Bmp);
    }
    Err(MediaError::unsupported(
        MediaKind::Image,
        format!("{}; {ACCEPTED}", describe_unknown(bytes)),
    ))
}

/// "BM" alone is two printable letters that many text payloads start with; also require one of
/// the DIB header sizes real bitmaps use.
fn has_bmp_info_header(bytes: &[u8]) -> bool {
    let Some(size) = bytes.get(14..18) else {
        return false;
    };
    let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]);
    matches!(size, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// A friendlier explanation for formats clients commonly send by mistake.
fn describe_unknown(bytes: &[u8]) -> &'static str {
    let brand = bytes.get(4..12);
    if brand.is_some_and(|b| b.starts_with(b"ftyp")) {
        return match brand.map(|b| &b[4..8]) {
            Some(b"heic" | b"heix" | b"mif1" | b"msf1" | b"hevc") => {
                "HEIC/HEIF pictures are not supported"
            }
            Some(b"avif" | b"avis") => "AVIF pictures are not supported",
            _ => "this looks like an MP4/QuickTime file, not a supported image",
        };
    }
    let head = &bytes[..bytes.len().min(256)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if text.contains("<svg") || text.trim_start().starts_with("<?xml") {
        return "SVG (vector) pictures are not supported";
    }
    "the bytes are not a supported image"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic_bytes() {
        assert_eq!(
            detect_image_format(b"\xFF\xD8\xFF\xE0rest").ok(),
            Some(SourceImageFormat::Jpeg)
        );
        assert_eq!(
            detect_image_format(b"\x89PNG\r\n\x1a\nxxxx").ok(),
            Some(SourceImageFormat::Png)
        );
        assert_eq!(
            detect_image_format(b"RIFF\0\0\0\0WEBPVP8 ").ok(),
            Some(SourceImageFormat::WebP)
        );
        assert_eq!(
            detect_image_format(b"GIF89a..").ok(),
            Some(SourceImageFormat::Gif)
        );
        assert_eq!(
            detect_image_format(b"MM\0*\0\0\0\x08").ok(),
            Some(SourceImageFormat::Tiff)
        );
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 12]);
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(detect_image_format(&bmp).ok(), Some(SourceImageFormat::Bmp));
    }

    #[test]
    fn unknown_bytes_name_the_problem() {
        let err = detect_image_format(b"BMW is a car brand, not a bitmap").unwrap_err();
        assert!(matches!(err, MediaError::Unsupported { .. }));
        assert!(err.to_string().contains("not a supported image"), "{err}");

        let heic = b"\0\0\0\x18ftypheic\0\0\0\0";
        let err = detect_image_format(heic).unwrap_err();
        assert!(err.to_string().contains("HEIC"), "{err}");

        let svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>";
        assert!(
            detect_image_format(svg)
                .unwrap_err()
                .to_string()
                .contains("SVG")
        );
        assert!(matches!(
            detect_image_format(b""),
            Err(MediaError::Empty(MediaKind::Image))
        ));
    }
}
