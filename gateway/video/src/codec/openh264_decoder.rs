//! OpenH264 built from its bundled source: the default decoder, no system
//! libraries.

use super::{H264Decoder, Picture, PictureSink};
use crate::error::VideoError;
use openh264::OpenH264API;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

/// OpenH264 compiled from its bundled source.
pub(crate) struct OpenH264 {
    decoder: Decoder,
}

impl OpenH264 {
    pub(crate) fn new() -> Result<Self, VideoError> {
        // NoFlush: OpenH264's default flushes after every packet, which
        // emits B-frame streams out of order and loses pictures; we flush
        // once at the end of the run instead.
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let decoder =
            Decoder::with_api_config(OpenH264API::from_source(), config).map_err(|e| {
                VideoError::Decoder {
                    reason: e.to_string(),
                }
            })?;
        Ok(Self { decoder })
    }
}

impl Picture for DecodedYUV<'_> {
    fn dimensions(&self) -> (usize, usize) {
        YUVSource::dimensions(self)
    }

    fn write_rgb8(&self, out: &mut [u8]) -> Result<(), VideoError> {
        DecodedYUV::write_rgb8(self, out);
        Ok(())
    }
}

impl H264Decoder for OpenH264 {
    fn feed(
        &mut self,
        access_unit: &[u8],
        _tag: usize,
        sink: &mut dyn PictureSink,
    ) -> Result<(), VideoError> {
        let picture = self
            .decoder
            .decode(access_unit)
            .map_err(|e| VideoError::corrupt(format!("H.264 decoding failed: {e}")))?;
        match picture {
            Some(picture) => sink.picture(None, &picture),
            None => Ok(()),
        }
    }

    fn finish(&mut self, sink: &mut dyn PictureSink) -> Result<(), VideoError> {
        let rest = self
            .decoder
            .flush_remaining()
            .map_err(|e| VideoError::corrupt(format!("H.264 decoding failed: {e}")))?;
        rest.iter()
            .try_for_each(|picture| sink.picture(None, picture))
    }
}
