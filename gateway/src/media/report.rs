//! The media crate's reports turned into the API's `/v1/normalize` items.

use omnigate_backend::ImageData;
use omnigate_media::{AudioReport, ImageReport};
use omnigate_openapi::{AudioItem, ImageItem};

pub(crate) fn image_item(report: &ImageReport, data: &ImageData) -> ImageItem {
    let (output, output_bytes) = match data {
        ImageData::Encoded(encoded) => (
            match encoded.format {
                omnigate_backend::ImageFormat::Jpeg => "jpeg",
                omnigate_backend::ImageFormat::Png => "png",
            },
            Some(encoded.bytes.len() as u64),
        ),
        ImageData::Tensor(_) => ("tensor", None),
    };
    ImageItem {
        source_format: format!("{:?}", report.source_format).to_ascii_lowercase(),
        original_width: report.original_width,
        original_height: report.original_height,
        exif_orientation: report.exif_orientation,
        orientation_applied: report.orientation_applied,
        alpha_composited: report.alpha_composited,
        output: output.to_owned(),
        output_width: report.output_width,
        output_height: report.output_height,
        output_bytes,
    }
}

pub(crate) fn audio_item(report: &AudioReport) -> AudioItem {
    AudioItem {
        container: report.container.clone(),
        codec: report.codec.clone(),
        source_sample_rate: report.source_sample_rate,
        source_channels: report.source_channels,
        declared_seconds: report.declared_seconds,
        source_seconds: report.source_seconds,
        trimmed_start_frames: report.trimmed_start_frames,
        output_sample_rate: report.output_sample_rate,
        output_channels: report.output_channels,
        output_seconds: report.output_seconds,
    }
}

/// The API name of a picture output form.
pub(crate) fn output_name(output: &omnigate_media::ImageOutput) -> &'static str {
    match output {
        omnigate_media::ImageOutput::Jpeg { .. } => "jpeg",
        omnigate_media::ImageOutput::Png => "png",
        omnigate_media::ImageOutput::Tensor { .. } => "tensor",
    }
}
