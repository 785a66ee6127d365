//! The H.264 decoders behind one small interface: OpenH264 from its bundled
//! source (the default: no system libraries) or, with the `ffmpeg` feature,
//! FFmpeg's decoder from the system's libavcodec (about 2.5× faster per
//! picture on one core). `decode.rs` plans what to feed and keeps what it
//! wants; a decoder only turns access units into pictures.

use crate::error::VideoError;

/// A decoded picture, converted to RGB only if somebody wants it.
pub(crate) trait Picture {
    /// Width and height in pixels.
    fn dimensions(&self) -> (usize, usize);
    /// Writes packed RGB8 rows into `out` (exactly `width * height * 3` bytes).
    fn write_rgb8(&self, out: &mut [u8]) -> Result<(), VideoError>;
}

/// Receives the pictures a decoder emits.
pub(crate) trait PictureSink {
    /// `tag` is the tag of the access unit this picture was coded in, when
    /// the decoder carries tags through (OpenH264 does not: its pictures come
    /// out in presentation order and the sink pairs them up).
    fn picture(&mut self, tag: Option<usize>, picture: &dyn Picture) -> Result<(), VideoError>;
}

/// One decoding session: fresh state, fed access units in decoding order.
pub(crate) trait H264Decoder {
    /// Feeds one access unit in Annex B form (parameter sets included where
    /// needed); hands any pictures that are ready to `sink`.
    fn feed(
        &mut self,
        access_unit: &[u8],
        tag: usize,
        sink: &mut dyn PictureSink,
    ) -> Result<(), VideoError>;
    /// Ends the stream and hands the pictures still held back to `sink`.
    fn finish(&mut self, sink: &mut dyn PictureSink) -> Result<(), VideoError>;
}

/// The decoders this build has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// OpenH264 from its bundled source.
    #[cfg_attr(
        all(feature = "ffmpeg", not(test)),
        allow(
            dead_code,
            reason = "with FFmpeg built in, only the tests pick OpenH264"
        )
    )]
    OpenH264,
    /// FFmpeg's decoder from the system's libavcodec.
    #[cfg(feature = "ffmpeg")]
    Ffmpeg,
}

impl Kind {
    /// The one [`crate::sample_frames`] uses: FFmpeg's where built in (it is
    /// the faster), OpenH264 otherwise.
    #[cfg(feature = "ffmpeg")]
    pub(crate) const DEFAULT: Kind = Kind::Ffmpeg;
    /// The one [`crate::sample_frames`] uses: FFmpeg's where built in (it is
    /// the faster), OpenH264 otherwise.
    #[cfg(not(feature = "ffmpeg"))]
    pub(crate) const DEFAULT: Kind = Kind::OpenH264;
}

/// A fresh decoder for one run of samples.
pub(crate) fn open(kind: Kind) -> Result<Box<dyn H264Decoder>, VideoError> {
    Ok(match kind {
        Kind::OpenH264 => Box::new(OpenH264::new()?),
        #[cfg(feature = "ffmpeg")]
        Kind::Ffmpeg => Box::new(crate::codec_ffmpeg::FfmpegH264::new()?),
    })
}

/// Which H.264 decoder this build uses (`openh264`, or `ffmpeg` with the
/// `ffmpeg` feature), for logs and benchmarks.
pub const DECODER_NAME: &str = match Kind::DEFAULT {
    Kind::OpenH264 => "openh264",
    #[cfg(feature = "ffmpeg")]
    Kind::Ffmpeg => "ffmpeg",
};

pub(crate) use openh264_session::OpenH264;

mod openh264_session {
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
}
