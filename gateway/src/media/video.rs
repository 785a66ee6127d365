//! Video parts: frames sampled by timestamp (omnigate-video), each shaped by the model's picture
//! contract, plus the audio track through the audio pipeline when the model takes sound. Runs
//! whole on the blocking pool.

use super::contract::MediaContract;
use super::errors::media;
use crate::error::{ApiError, MediaProblem};
use bytes::Bytes;
use omnigate_backend::{Audio, VideoFrame};
use omnigate_media::{AudioReport, MediaError};
use omnigate_video::{Sampling, VideoError, VideoPolicy, VideoReport};

/// Frames decoded at most for one video (keyframe lead-ins included): bounds CPU time.
const MAX_DECODED_FRAMES: u32 = 9000;

/// What one video became.
pub(crate) struct SampledVideo {
    pub frames: Vec<VideoFrame>,
    pub pixels: u64,
    pub frame_size: Option<(u32, u32)>,
    pub audio: Option<(Audio, AudioReport)>,
    pub report: VideoReport,
}

/// Why a video could not be used.
pub(crate) enum VideoFailure {
    Video(VideoError),
    Media(MediaError),
}

/// Samples and shapes `bytes` for `contract`; `with_audio` asks for the audio track too.
pub(crate) fn sample(
    bytes: &Bytes,
    contract: &MediaContract,
    with_audio: bool,
) -> Result<SampledVideo, VideoFailure> {
    let sampling = &contract.video;
    let policy = VideoPolicy {
        sampling: match sampling.frames {
            Some(n) => Sampling::Frames(n),
            None => Sampling::Fps(sampling.fps),
        },
        max_frames: sampling.max_frames,
        max_seconds: sampling.max_seconds,
        max_width: sampling.max_input_side,
        max_height: sampling.max_input_side,
        max_decoded_frames: MAX_DECODED_FRAMES,
    };
    let (raw_frames, report) =
        omnigate_video::sample_frames(bytes, &policy).map_err(VideoFailure::Video)?;
    let mut frames = Vec::with_capacity(raw_frames.len());
    let mut pixels = 0;
    let mut frame_size = None;
    for frame in raw_frames {
        let (image, (w, h)) = omnigate_media::normalize_rgb(
            frame.width,
            frame.height,
            frame.rgb,
            &contract.image,
            None,
        )
        .map_err(VideoFailure::Media)?;
        pixels += u64::from(w) * u64::from(h);
        frame_size = Some((w, h));
        frames.push(VideoFrame {
            timestamp_secs: frame.timestamp_secs,
            image,
        });
    }
    let audio = if with_audio && report.info.has_audio {
        // The track is read by the audio pipeline's own MP4 demuxer. An audio codec it cannot
        // decode leaves the frames usable, so that is logged, not refused.
        match omnigate_media::normalize_audio(bytes, Some("mp4"), &contract.audio) {
            Ok(audio) => Some(audio),
            Err(err @ MediaError::AudioTooLong { .. }) => return Err(VideoFailure::Media(err)),
            Err(err) => {
                tracing::info!(%err, "video audio track skipped");
                None
            }
        }
    } else {
        None
    };
    Ok(SampledVideo {
        frames,
        pixels,
        frame_size,
        audio,
        report,
    })
}

/// The client-facing error for a failed video.
pub(crate) fn failure(failure: VideoFailure, param: &str) -> ApiError {
    let err = match failure {
        VideoFailure::Media(err) => return super::errors::from_media(err, param),
        VideoFailure::Video(err) => err,
    };
    let (problem, code) = match &err {
        VideoError::Empty => (MediaProblem::Invalid, "empty_media"),
        VideoError::NotMp4 { .. }
        | VideoError::UnsupportedCodec { .. }
        | VideoError::Unsupported { .. } => (MediaProblem::Unsupported, "unsupported_media"),
        VideoError::NoVideoTrack => (MediaProblem::Unsupported, "no_video_track"),
        VideoError::Truncated | VideoError::Corrupt { .. } => {
            (MediaProblem::Undecodable, "corrupt_media")
        }
        VideoError::TooLong { .. } => (MediaProblem::TooLarge, "video_too_long"),
        VideoError::TooLarge { .. } => (MediaProblem::TooLarge, "video_too_large"),
        VideoError::TooManyFrames { .. } => (MediaProblem::TooLarge, "video_too_many_frames"),
        VideoError::InvalidPolicy { .. } | VideoError::Decoder { .. } => {
            return ApiError::Internal(format!("{param}: {err}"));
        }
    };
    media(problem, param, code, format!("{param}: {err}"))
}
