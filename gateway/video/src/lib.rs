//! Video frame sampling for omnigate: takes an untrusted MP4/MOV (H.264)
//! file and returns RGB frames at chosen timestamps, under hard caps.
//!
//! Pure and synchronous (run it on a blocking pool); no system libraries by
//! default: MP4 parsing is mp4parse (Rust), H.264 decoding is OpenH264 built
//! from its bundled source (the `ffmpeg` feature decodes with the system's
//! libavcodec instead, about 2.5× faster per picture). Everything that can
//! be refused from the header (size, duration, codec, absurd tables) is
//! refused before decoding, and decoding stops at the last needed frame, starting from the nearest
//! keyframe before each one and skipping the pictures on the way that no
//! other picture refers to (most B-frames). Those keyframe runs are
//! independent, and [`sample_frames_parallel`] decodes several at once on
//! threads the caller lends.
//!
//! ```no_run
//! # fn run(bytes: &[u8]) -> Result<(), omnigate_video::VideoError> {
//! use omnigate_video::{sample_frames, Sampling, VideoPolicy};
//! let policy = VideoPolicy { sampling: Sampling::Frames(8), ..VideoPolicy::default() };
//! let (frames, report) = sample_frames(bytes, &policy)?;
//! assert_eq!(frames.len(), report.sampled.len());
//! # Ok(()) }
//! ```

mod avc;
mod boxes;
mod codec;
mod decode;
mod demux;
mod error;
mod parallel;
mod sample;
mod sps;

pub use codec::DECODER_NAME as H264_DECODER;
pub use error::VideoError;

use demux::HeaderLimits;

/// How to choose the timestamps to sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// One frame every `1/fps` seconds from the start (0, 1/fps, 2/fps, …).
    /// If that is more than `max_frames`, `max_frames` frames are spread as
    /// with [`Sampling::Frames`].
    Fps(f64),
    /// This many frames (at most `max_frames`), one from the middle of each
    /// of as many equal spans of the duration.
    Frames(u32),
}

/// Limits and sampling choice for [`sample_frames`].
///
/// Memory is bounded by the input size (tables) plus the returned frames:
/// at most `max_frames × max_width × max_height × 3` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoPolicy {
    /// Which timestamps to sample.
    pub sampling: Sampling,
    /// Most frames returned.
    pub max_frames: u32,
    /// Longest declared duration accepted, in seconds.
    pub max_seconds: f64,
    /// Widest picture accepted, in pixels.
    pub max_width: u32,
    /// Tallest picture accepted, in pixels.
    pub max_height: u32,
    /// Most frames decoded (keyframe lead-ins included): bounds CPU time.
    pub max_decoded_frames: u32,
}

impl Default for VideoPolicy {
    /// One frame per second, up to 32 frames, 10 minutes, 4096x4096, and
    /// 9000 decoded frames (5 minutes of 30 fps video).
    fn default() -> Self {
        Self {
            sampling: Sampling::Fps(1.0),
            max_frames: 32,
            max_seconds: 600.0,
            max_width: 4096,
            max_height: 4096,
            max_decoded_frames: 9000,
        }
    }
}

impl VideoPolicy {
    /// Checks that the policy is usable (positive, finite limits).
    pub fn validate(&self) -> Result<(), VideoError> {
        let invalid = |reason: &str| {
            Err(VideoError::InvalidPolicy {
                reason: reason.to_owned(),
            })
        };
        match self.sampling {
            Sampling::Fps(fps) if !(fps.is_finite() && fps > 0.0) => {
                return invalid("sampling fps must be a positive number");
            }
            Sampling::Frames(0) => return invalid("sampling frame count must be at least 1"),
            _ => {}
        }
        if self.max_frames == 0 || self.max_decoded_frames == 0 {
            return invalid("max_frames and max_decoded_frames must be at least 1");
        }
        if !(self.max_seconds.is_finite() && self.max_seconds > 0.0) {
            return invalid("max_seconds must be a positive number");
        }
        if self.max_width == 0 || self.max_height == 0 {
            return invalid("max_width and max_height must be at least 1");
        }
        Ok(())
    }
}

/// One sampled picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Presentation time of this picture in seconds (from the sample table,
    /// composition offsets and edit list applied), not the requested time.
    pub timestamp_secs: f64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGB8 pixels, row-major, `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

/// What the container header says about the video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// `mp4` or `mov` (QuickTime brand).
    pub container: String,
    /// Always `h264` (anything else is refused).
    pub codec: String,
    /// H.264 profile name from the SPS: `Baseline`, `Main`, `High`, ….
    pub profile: String,
    /// Coded picture width in pixels (SPS, cropping applied).
    pub width: u32,
    /// Coded picture height in pixels.
    pub height: u32,
    /// Declared presentation duration in seconds.
    pub duration_secs: f64,
    /// Number of video samples (frames).
    pub frame_count: u64,
    /// The file also has an audio track.
    pub has_audio: bool,
}

/// The outcome of [`sample_frames`] besides the frames themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoReport {
    /// Header facts.
    pub info: VideoInfo,
    /// Frames fed to the decoder (keyframe lead-ins included).
    pub decoded_frames: u32,
    /// Timestamps of the returned frames, seconds, ascending.
    pub sampled: Vec<f64>,
}

/// Reads the header only: size, duration, frame count, audio presence.
///
/// Applies the structural and absolute sanity checks of [`sample_frames`]
/// (codec, absurd sizes or tables) but no policy limits, and decodes nothing.
pub fn probe(bytes: &[u8]) -> Result<VideoInfo, VideoError> {
    let limits = HeaderLimits {
        max_width: avc::ABSOLUTE_MAX_SIDE,
        max_height: avc::ABSOLUTE_MAX_SIDE,
        max_seconds: f64::INFINITY,
    };
    Ok(demux::open(bytes, &limits)?.info)
}

/// [`probe`] that also refuses a video declared longer than `max_seconds`, by
/// the same measure [`sample_frames`] applies (the longest of the movie's and
/// the video track's declared durations): for callers that want only the
/// header, such as the sound track's.
pub fn probe_within(bytes: &[u8], max_seconds: f64) -> Result<VideoInfo, VideoError> {
    let limits = HeaderLimits {
        max_width: avc::ABSOLUTE_MAX_SIDE,
        max_height: avc::ABSOLUTE_MAX_SIDE,
        max_seconds,
    };
    Ok(demux::open(bytes, &limits)?.info)
}

/// Samples frames from an MP4/MOV H.264 video held in `bytes`.
///
/// Targets are chosen per `policy.sampling`; each yields the picture on
/// screen at that time (targets landing on the same picture yield it once).
/// Refuses over-limit inputs from the header before decoding and refuses a
/// plan needing more than `max_decoded_frames` decoded frames up front.
pub fn sample_frames(
    bytes: &[u8],
    policy: &VideoPolicy,
) -> Result<(Vec<Frame>, VideoReport), VideoError> {
    sample_frames_shaped(bytes, policy, &mut Ok)
}

/// [`sample_frames`], handing each frame to `shape` as soon as it is
/// decoded and keeping only what `shape` returns, in presentation order.
///
/// Peak memory is then one full-size frame rather than all of them: 32
/// frames of a 4K video are 800 MB of RGB, their 448² tensors 77 MB. An
/// error from `shape` stops sampling and is returned as is.
pub fn sample_frames_shaped<T: Send>(
    bytes: &[u8],
    policy: &VideoPolicy,
    shape: &mut dyn FnMut(Frame) -> Result<T, VideoError>,
) -> Result<(Vec<T>, VideoReport), VideoError> {
    sample_with_decoder(
        bytes,
        policy,
        codec::Kind::DEFAULT,
        Shaping::OneThread(shape),
    )
}

/// [`sample_frames_shaped`] decoding up to `threads` keyframe runs at once (on threads of its
/// own, which the caller lends it: `threads` counts this one), so that one long video's wall
/// time falls with the cores given. `shape` may then be called from several threads at once,
/// in any order; what it returns comes back in presentation order, as from
/// [`sample_frames_shaped`], and the frames are the same bits.
///
/// Memory stays within the policy's bound for one picture: runs decoded at once are capped so
/// that their pictures together have at most `max_width × max_height` pixels (a 720p video
/// under a 4096² policy may use 18 threads, a 4096² one only one), which is also what one run
/// of the largest picture allowed holds.
pub fn sample_frames_parallel<T: Send>(
    bytes: &[u8],
    policy: &VideoPolicy,
    threads: usize,
    shape: &(dyn Fn(Frame) -> Result<T, VideoError> + Sync),
) -> Result<(Vec<T>, VideoReport), VideoError> {
    sample_with_decoder(
        bytes,
        policy,
        codec::Kind::DEFAULT,
        Shaping::Parallel { threads, shape },
    )
}

/// How [`sample_with_decoder`] hands frames to the caller.
enum Shaping<'s, T> {
    /// On this thread, one run after another.
    OneThread(&'s mut dyn FnMut(Frame) -> Result<T, VideoError>),
    /// On up to `threads` threads at once.
    Parallel {
        threads: usize,
        shape: &'s (dyn Fn(Frame) -> Result<T, VideoError> + Sync),
    },
}

/// [`sample_frames_shaped`] or [`sample_frames_parallel`] with a chosen decoder (tests compare
/// them).
fn sample_with_decoder<T: Send>(
    bytes: &[u8],
    policy: &VideoPolicy,
    decoder: codec::Kind,
    shaping: Shaping<'_, T>,
) -> Result<(Vec<T>, VideoReport), VideoError> {
    policy.validate()?;
    let limits = HeaderLimits {
        max_width: policy.max_width,
        max_height: policy.max_height,
        max_seconds: policy.max_seconds,
    };
    let demuxed = demux::open(bytes, &limits)?;
    let samples = demuxed.samples(bytes)?;
    let targets = sample::targets(
        policy.sampling,
        policy.max_frames,
        demuxed.info.duration_secs,
    );
    let plan = sample::plan(&samples, &targets);
    let needed = plan.cost();
    if needed > u64::from(policy.max_decoded_frames) {
        return Err(VideoError::TooManyFrames {
            needed,
            limit: policy.max_decoded_frames,
        });
    }
    let job = decode::Job {
        bytes,
        samples: &samples,
        avc: &demuxed.avc,
        plan: &plan,
        limits: decode::DecodeLimits {
            max_width: policy.max_width,
            max_height: policy.max_height,
            max_decoded_frames: policy.max_decoded_frames,
            decoder,
        },
        decoded: std::sync::atomic::AtomicU32::new(0),
    };
    let (frames, decoded_frames) = match shaping {
        Shaping::OneThread(shape) => {
            decode::decode(&job, &decode::OneThread(std::cell::RefCell::new(shape)))?
        }
        Shaping::Parallel { threads, shape } => {
            let side = |max: u32| u64::from(max.min(avc::ABSOLUTE_MAX_SIDE));
            let bound = side(policy.max_width) * side(policy.max_height);
            // The largest picture the header announces (its size or a parameter set's).
            let header_area = u64::from(demuxed.info.width) * u64::from(demuxed.info.height);
            let area = demuxed
                .avc
                .sps
                .iter()
                .filter_map(|nal| sps::parse_sps(nal).ok())
                .map(|sps| u64::from(sps.width) * u64::from(sps.height))
                .fold(header_area, u64::max);
            let width = parallel::width(threads, plan.runs.len(), area, bound);
            if width == 1 {
                decode::decode(&job, &decode::Shared(shape))?
            } else {
                parallel::decode(&job, width, bound / width as u64, &decode::Shared(shape))?
            }
        }
    };
    let report = VideoReport {
        info: demuxed.info,
        decoded_frames,
        sampled: frames.iter().map(|(secs, _)| *secs).collect(),
    };
    Ok((
        frames.into_iter().map(|(_, shaped)| shaped).collect(),
        report,
    ))
}

/// Fuzzing entry point: samples `bytes` under tight caps and ignores the
/// outcome. Must never panic, hang or allocate beyond the caps.
pub fn fuzz_entry(bytes: &[u8]) {
    let policy = VideoPolicy {
        sampling: Sampling::Frames(2),
        max_frames: 2,
        max_seconds: 60.0,
        max_width: 256,
        max_height: 256,
        max_decoded_frames: 64,
    };
    let _ = probe(bytes);
    let _ = sample_frames(bytes, &policy);
    // The same through the parallel runs (two threads, up to four runs at once by memory).
    let _ = sample_frames_parallel(bytes, &policy, 2, &|frame| Ok(frame.width));
}

#[cfg(test)]
mod tests;
