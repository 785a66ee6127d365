//! The H.264 decoders behind one small interface: OpenH264 from its bundled
//! source (the default: no system libraries) or, with the `ffmpeg` feature,
//! FFmpeg's decoder from the system's libavcodec (about twice as fast per
//! picture on one core), each in its own file under `codec/`. `decode.rs`
//! plans what to feed and keeps what it wants; a decoder only turns access
//! units into pictures.

use crate::error::VideoError;

#[cfg(feature = "ffmpeg")]
mod ffmpeg_decoder;
mod openh264_decoder;

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
    pub(crate) const DEFAULT: Kind = {
        #[cfg(feature = "ffmpeg")]
        let kind = Kind::Ffmpeg;
        #[cfg(not(feature = "ffmpeg"))]
        let kind = Kind::OpenH264;
        kind
    };
}

/// A fresh decoder for one run of samples.
pub(crate) fn open(kind: Kind) -> Result<Box<dyn H264Decoder>, VideoError> {
    Ok(match kind {
        Kind::OpenH264 => Box::new(openh264_decoder::OpenH264::new()?),
        #[cfg(feature = "ffmpeg")]
        Kind::Ffmpeg => Box::new(ffmpeg_decoder::FfmpegH264::new()?),
    })
}

/// Which H.264 decoder this build uses (`openh264`, or `ffmpeg` with the
/// `ffmpeg` feature), for logs and benchmarks.
pub const DECODER_NAME: &str = match Kind::DEFAULT {
    Kind::OpenH264 => "openh264",
    #[cfg(feature = "ffmpeg")]
    Kind::Ffmpeg => "ffmpeg",
};
