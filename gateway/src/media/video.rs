//! Video parts: frames sampled by timestamp (omnigate-video), each shaped by the model's picture
//! contract as it is decoded, plus the audio track through the audio pipeline when the model
//! takes sound; for a model that takes only sound, the audio track alone. Runs whole on the
//! blocking pool.

use super::contract::MediaContract;
use super::error::media;
use super::error::{MediaProblem, NormalizeError};
use bytes::Bytes;
use omnigate_backend::{Audio, VideoFrame};
use omnigate_media::{AudioReport, MediaError};
use omnigate_video::{Frame, Sampling, VideoError, VideoInfo, VideoPolicy, VideoReport};

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
    /// Only the sound was wanted, and the video has none.
    NoAudioTrack,
}

/// What the model takes from a video.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted {
    /// Sampled frames (as a video part or as image parts).
    pub frames: bool,
    /// The audio track.
    pub audio: bool,
}

/// Samples and shapes `bytes` for `contract`, taking what `wanted` says, decoding up to
/// `threads` keyframe runs at once (the decode pool's slots this item holds).
pub(crate) fn sample(
    bytes: &Bytes,
    contract: &MediaContract,
    wanted: Wanted,
    threads: usize,
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
    if !wanted.frames {
        return sound_only(bytes, contract, policy.max_seconds);
    }
    let (shaped, report) = {
        // Each frame is shaped as soon as it is decoded, so a long 4K video holds one
        // full-size frame per run being decoded, not `max_frames` of them.
        let shape = |frame: Frame| {
            let (image, size) = omnigate_media::normalize_rgb(
                frame.width,
                frame.height,
                frame.rgb,
                &contract.image,
                None,
            )
            .map_err(|e| VideoError::Shaping {
                reason: e.to_string(),
            })?;
            let frame = VideoFrame {
                timestamp_secs: frame.timestamp_secs,
                image,
            };
            Ok((frame, size))
        };
        omnigate_video::sample_frames_parallel(bytes, &policy, threads, &shape)
            .map_err(VideoFailure::Video)?
    };
    let pixels = shaped
        .iter()
        .map(|(_, (w, h))| u64::from(*w) * u64::from(*h))
        .sum();
    let frame_size = shaped.last().map(|(_, size)| *size);
    let frames = shaped.into_iter().map(|(frame, _)| frame).collect();
    let audio = if wanted.audio && report.info.has_audio {
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

/// The sound track alone, for a model that takes no pictures: nothing is decoded but the sound.
/// The header is still held to the video's length limit; a picture track omnigate cannot decode
/// (HEVC from a phone, or none at all) does not matter here, so then only the sound's own limits
/// apply.
fn sound_only(
    bytes: &Bytes,
    contract: &MediaContract,
    max_seconds: f64,
) -> Result<SampledVideo, VideoFailure> {
    // The picture codec as the report names it when omnigate cannot read that track.
    let (info, codec) = match omnigate_video::probe_within(bytes, max_seconds) {
        Ok(info) if !info.has_audio => return Err(VideoFailure::NoAudioTrack),
        Ok(info) => (Some(info), None),
        Err(VideoError::UnsupportedCodec { codec }) => (None, Some(codec)),
        Err(VideoError::NoVideoTrack) => (None, Some("none".to_owned())),
        Err(err) => return Err(VideoFailure::Video(err)),
    };
    let (audio, report) = omnigate_media::normalize_audio(bytes, Some("mp4"), &contract.audio)
        .map_err(|err| match err {
            MediaError::Unsupported { .. } | MediaError::Empty(_) if info.is_none() => {
                VideoFailure::NoAudioTrack
            }
            err => VideoFailure::Media(err),
        })?;
    let info = info.unwrap_or_else(|| VideoInfo {
        container: report.container.clone(),
        codec: codec.unwrap_or_default(),
        profile: String::new(),
        width: 0,
        height: 0,
        duration_secs: report.source_seconds,
        frame_count: 0,
        has_audio: true,
    });
    Ok(SampledVideo {
        frames: Vec::new(),
        pixels: 0,
        frame_size: None,
        audio: Some((audio, report)),
        report: VideoReport {
            info,
            decoded_frames: 0,
            sampled: Vec::new(),
        },
    })
}

/// The client-facing error for a failed video.
pub(crate) fn failure(failure: VideoFailure, param: &str) -> NormalizeError {
    let err = match failure {
        VideoFailure::Media(err) => return super::error::from_media(err, param),
        VideoFailure::NoAudioTrack => {
            return media(
                MediaProblem::Invalid,
                param,
                "no_audio_track",
                format!(
                    "{param}: the video has no sound track, and this model takes only the sound \
                     of a video"
                ),
            );
        }
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
        VideoError::InvalidPolicy { .. }
        | VideoError::Decoder { .. }
        | VideoError::Shaping { .. } => {
            return NormalizeError::Internal(format!("{param}: {err}"));
        }
    };
    media(problem, param, code, format!("{param}: {err}"))
}
