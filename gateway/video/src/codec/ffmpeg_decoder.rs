//! FFmpeg's H.264 decoder (the `ffmpeg` feature), through `ffmpeg-next`'s
//! safe API over the system's libavcodec and libswscale.
//!
//! Set up to behave like the OpenH264 path: one thread (decoding already runs
//! on the gateway's blocking pool, one item per permit), errors refused
//! rather than concealed (`err_detect=explode`, no concealment: a corrupt
//! stream is a 422, not a smeared picture), and the sample's tag carried
//! through as the packet's pts, so each picture is paired with its sample by
//! tag rather than by order.

use super::{H264Decoder, Picture, PictureSink};
use crate::error::VideoError;
use ffmpeg::codec::decoder::{Check, Conceal};
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::frame;
use ffmpeg_next as ffmpeg;
use std::sync::Once;

/// One FFmpeg decoding session.
pub(crate) struct FfmpegH264 {
    decoder: ffmpeg::decoder::Video,
    frame: frame::Video,
}

impl FfmpegH264 {
    pub(crate) fn new() -> Result<Self, VideoError> {
        static QUIET: Once = Once::new();
        // libav* logs every bitstream complaint to stderr; the caller gets
        // them as errors instead, and hostile input must not flood the log.
        QUIET.call_once(|| ffmpeg::log::set_level(ffmpeg::log::Level::Quiet));
        let unavailable = |e: ffmpeg::Error| VideoError::Decoder {
            reason: format!("FFmpeg's H.264 decoder: {e}"),
        };
        let codec =
            ffmpeg::decoder::find(ffmpeg::codec::Id::H264).ok_or_else(|| VideoError::Decoder {
                reason: "this libavcodec has no H.264 decoder".into(),
            })?;
        let mut context = ffmpeg::codec::Context::new_with_codec(codec);
        context.set_threading(ffmpeg::threading::Config::count(1));
        let mut decoder = context.decoder();
        decoder.check(Check::EXPLODE | Check::BISTREAM);
        decoder.conceal(Conceal::empty());
        let decoder = decoder
            .open_as(codec)
            .and_then(|opened| opened.video())
            .map_err(unavailable)?;
        Ok(Self {
            decoder,
            frame: frame::Video::empty(),
        })
    }

    /// Hands every picture the decoder has ready to `sink`.
    fn drain(&mut self, sink: &mut dyn PictureSink) -> Result<(), VideoError> {
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    let tag = self
                        .frame
                        .pts()
                        .and_then(|pts| usize::try_from(pts).ok())
                        .ok_or_else(|| {
                            VideoError::corrupt("a picture came out without its frame")
                        })?;
                    sink.picture(Some(tag), &FfmpegPicture(&self.frame))?;
                }
                Err(ffmpeg::Error::Other {
                    errno: ffmpeg::error::EAGAIN,
                })
                | Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(e) => return Err(bitstream(e)),
            }
        }
    }
}

fn bitstream(e: ffmpeg::Error) -> VideoError {
    VideoError::corrupt(format!("H.264 decoding failed: {e}"))
}

impl H264Decoder for FfmpegH264 {
    fn feed(
        &mut self,
        access_unit: &[u8],
        tag: usize,
        sink: &mut dyn PictureSink,
    ) -> Result<(), VideoError> {
        let mut packet = ffmpeg::Packet::copy(access_unit);
        packet.set_pts(i64::try_from(tag).ok());
        match self.decoder.send_packet(&packet) {
            // Its output queue is full: take the pictures out, then it
            // accepts the packet. (Draining after every packet keeps this
            // from happening with H.264, but the API allows it.)
            Err(ffmpeg::Error::Other {
                errno: ffmpeg::error::EAGAIN,
            }) => {
                self.drain(sink)?;
                self.decoder.send_packet(&packet).map_err(bitstream)?;
            }
            sent => sent.map_err(bitstream)?,
        }
        self.drain(sink)
    }

    fn finish(&mut self, sink: &mut dyn PictureSink) -> Result<(), VideoError> {
        self.decoder.send_eof().map_err(bitstream)?;
        self.drain(sink)
    }
}

/// A decoded frame, converted to RGB by libswscale when wanted.
struct FfmpegPicture<'a>(&'a frame::Video);

impl Picture for FfmpegPicture<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width() as usize, self.0.height() as usize)
    }

    fn write_rgb8(&self, out: &mut [u8]) -> Result<(), VideoError> {
        let (width, height) = (self.0.width(), self.0.height());
        let failed = |e: ffmpeg::Error| VideoError::Decoder {
            reason: format!("FFmpeg's colour conversion: {e}"),
        };
        // Same-size conversion: the flag only picks the chroma upsampling.
        let mut scaler = scaling::Context::get(
            self.0.format(),
            width,
            height,
            Pixel::RGB24,
            width,
            height,
            scaling::Flags::BILINEAR,
        )
        .map_err(failed)?;
        let mut rgb = frame::Video::empty();
        scaler.run(self.0, &mut rgb).map_err(failed)?;
        // libswscale pads rows for alignment; `out` is packed.
        let row = width as usize * 3;
        let stride = rgb.stride(0);
        let data = rgb.data(0);
        for (y, out_row) in out.chunks_exact_mut(row).enumerate() {
            let src = data
                .get(y * stride..y * stride + row)
                .ok_or_else(|| VideoError::corrupt("a converted picture is short"))?;
            out_row.copy_from_slice(src);
        }
        Ok(())
    }
}
