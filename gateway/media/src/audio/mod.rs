//! Sound normalization: probe, check the declared duration, decode under a cap, trim encoder
//! delay, mix down, resample (the last three packet by packet, as the decoder produces them).

mod decode;
#[cfg(feature = "opus")]
mod opus;
mod policy;
mod priming;
mod probe;
mod resample;
mod sink;
mod wav_guard;

#[cfg(test)]
mod tests;

pub use policy::{AudioPolicy, AudioReport, ChannelMode};

use std::sync::Arc;

use omnigate_backend::Audio;

use crate::error::{MediaError, MediaKind};

/// Decodes untrusted audio bytes and shapes them as `policy` says.
///
/// The container is detected from the bytes; `hint` (an extension such as `"mp3"` or a MIME type
/// such as `"audio/mpeg"`) only helps the probe choose between candidates. Audio whose header
/// declares more than `policy.max_seconds` is refused before decoding, and decoding stops with
/// the same error once that many seconds were produced, so no input is silently truncated.
/// Encoder delay is trimmed, channels are averaged when mixing down to mono, and the result is
/// resampled (band-limited) to the policy's rate. Samples are f32 and never clamped.
pub fn normalize_audio(
    bytes: &[u8],
    hint: Option<&str>,
    policy: &AudioPolicy,
) -> Result<(Audio, AudioReport), MediaError> {
    validate(policy)?;
    let mut probed = probe::open(bytes, hint)?;
    if let Some(declared) = probed.declared_seconds
        && declared > policy.max_seconds
    {
        return Err(MediaError::AudioTooLong {
            max_seconds: policy.max_seconds,
            declared_seconds: Some(declared),
        });
    }

    let decoded = decode::decode(&mut probed, bytes, policy)?;
    let collected = decoded.collected;
    let source_rate = collected.sample_rate;
    let source_seconds = collected.frames as f64 / f64::from(source_rate);
    let channels = collected.channels;
    let samples = collected.samples;

    let to_u16 = |n: usize| {
        u16::try_from(n)
            .map_err(|_| MediaError::unsupported(MediaKind::Audio, format!("{n} channels")))
    };
    let audio = Audio {
        sample_rate: policy.sample_rate,
        channels: to_u16(channels)?,
        samples: Arc::from(samples),
    };
    // Decoders in gapless mode trim the container's delay themselves, out of the sink's sight.
    let trimmed_start_frames = collected
        .trimmed_start
        .max(probed.track.delay.map_or(0, u64::from));
    let report = AudioReport {
        container: probed.container,
        codec: probed.codec,
        source_sample_rate: source_rate,
        source_channels: to_u16(collected.source_channels)?,
        declared_seconds: probed.declared_seconds,
        source_seconds,
        trimmed_start_frames,
        trimmed_end_frames: collected.trimmed_end,
        delay_source: decoded.gapless.source,
        output_sample_rate: audio.sample_rate,
        output_channels: audio.channels,
        output_seconds: audio.duration_secs(),
    };
    Ok((audio, report))
}

fn validate(policy: &AudioPolicy) -> Result<(), MediaError> {
    if policy.sample_rate == 0 || policy.sample_rate > probe::MAX_SOURCE_RATE {
        return Err(MediaError::InvalidPolicy(format!(
            "sample_rate must be within 1..={} Hz",
            probe::MAX_SOURCE_RATE
        )));
    }
    if !(policy.max_seconds.is_finite() && policy.max_seconds > 0.0) {
        return Err(MediaError::InvalidPolicy(
            "max_seconds must be a positive number".into(),
        ));
    }
    Ok(())
}
