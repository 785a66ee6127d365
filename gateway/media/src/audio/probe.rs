//! Opening untrusted audio bytes: container detection from the bytes (a client hint only breaks
//! ties), choice of the audio track, and what the headers declare before anything is decoded.

use std::io::Cursor;

use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::error::{MediaError, MediaKind};

/// The highest source sample rate accepted; beyond it a header is more likely hostile than real.
pub(crate) const MAX_SOURCE_RATE: u32 = 384_000;

const ACCEPTED: &str =
    "send WAV, MP3, FLAC, Ogg (Vorbis or Opus), M4A/MP4 (AAC), AAC (ADTS) or WebM/Matroska";

/// An opened container with its chosen audio track.
pub(crate) struct Probed<'s> {
    /// The demuxer.
    pub format: Box<dyn FormatReader + 's>,
    /// The audio track that will be decoded.
    pub track: Track,
    /// Its codec parameters.
    pub params: AudioCodecParameters,
    /// The container's short name.
    pub container: String,
    /// The codec's short name.
    pub codec: String,
    /// The duration the headers declare, in seconds.
    pub declared_seconds: Option<f64>,
}

/// Detects the container and picks the default audio track.
pub(crate) fn open<'s>(bytes: &'s [u8], hint: Option<&str>) -> Result<Probed<'s>, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty(MediaKind::Audio));
    }
    super::wav_guard::check(bytes)?;
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let format = symphonia::default::get_probe()
        .probe(
            &hint_from(hint),
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymphoniaError::Unsupported(_) => MediaError::unsupported(
                MediaKind::Audio,
                format!("the bytes are not a supported audio format; {ACCEPTED}"),
            ),
            other => symphonia_error(other),
        })?;

    let track = format
        .default_track(TrackType::Audio)
        .or_else(|| format.first_track(TrackType::Audio))
        .cloned()
        .ok_or_else(|| MediaError::unsupported(MediaKind::Audio, "the file has no audio track"))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or_else(|| {
            MediaError::unsupported(MediaKind::Audio, "the audio track's codec is not described")
        })?;
    if let Some(rate) = params.sample_rate {
        check_rate(rate)?;
    }

    let container = format.format_info().short_name.to_owned();
    let codec = codec_name(&params);
    let declared_seconds = declared_seconds(&track, &params);
    Ok(Probed {
        format,
        track,
        params,
        container,
        codec,
        declared_seconds,
    })
}

/// A hint is either a MIME type (`audio/mpeg`) or an extension (`mp3`, `.mp3`).
fn hint_from(hint: Option<&str>) -> Hint {
    let mut out = Hint::new();
    if let Some(h) = hint.map(str::trim).filter(|h| !h.is_empty()) {
        if h.contains('/') {
            out.mime_type(&h.to_ascii_lowercase());
        } else {
            out.with_extension(&h.trim_start_matches('.').to_ascii_lowercase());
        }
    }
    out
}

/// Refuses sample rates no real recording has.
pub(crate) fn check_rate(rate: u32) -> Result<(), MediaError> {
    if rate == 0 || rate > MAX_SOURCE_RATE {
        return Err(MediaError::unsupported(
            MediaKind::Audio,
            format!("a sample rate of {rate} Hz (accepted: 1..={MAX_SOURCE_RATE} Hz)"),
        ));
    }
    Ok(())
}

fn codec_name(params: &AudioCodecParameters) -> String {
    if params.codec == CODEC_ID_OPUS {
        return "opus".to_owned();
    }
    symphonia::default::get_codecs()
        .get_audio_decoder(params.codec)
        .map(|d| {
            let info = &d.codec.info;
            // PCM decoders serve many ids under one name; the profile names the exact variant.
            let profile = params.profile.and_then(|p| {
                info.profiles
                    .iter()
                    .find(|i| i.profile == p)
                    .map(|i| i.short_name)
            });
            profile.unwrap_or(info.short_name).to_owned()
        })
        .unwrap_or_else(|| format!("codec {}", params.codec))
}

/// Playable frames over the rate when known; otherwise the container's duration.
fn declared_seconds(track: &Track, params: &AudioCodecParameters) -> Option<f64> {
    if let (Some(frames), Some(rate)) = (track.num_frames, params.sample_rate) {
        return Some(frames as f64 / f64::from(rate.max(1)));
    }
    let (duration, time_base) = (track.duration?, track.time_base?);
    time_base.calc_duration(duration).map(|t| t.as_secs_f64())
}

/// Maps a demuxer or decoder failure to the client-facing error.
pub(crate) fn symphonia_error(error: SymphoniaError) -> MediaError {
    match error {
        SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::corrupt(MediaKind::Audio, "the file ends too early (truncated)")
        }
        SymphoniaError::IoError(e) => MediaError::corrupt(MediaKind::Audio, e),
        SymphoniaError::DecodeError(msg) => MediaError::corrupt(MediaKind::Audio, msg),
        SymphoniaError::Unsupported(what) => MediaError::unsupported(MediaKind::Audio, what),
        SymphoniaError::LimitError(what) => {
            MediaError::corrupt(MediaKind::Audio, format!("a decoder limit was hit: {what}"))
        }
        SymphoniaError::ResetRequired => MediaError::unsupported(
            MediaKind::Audio,
            "streams whose parameters change midway (chained streams)",
        ),
        other => MediaError::corrupt(MediaKind::Audio, other),
    }
}
