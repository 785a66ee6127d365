//! Sample-rate conversion with rubato's synchronous FFT resampler: band-limited (anti-aliased
//! with a Blackman-Harris window), exact for a fixed ratio, and faster than sinc interpolation.
//! Samples stay f32 and are never clamped; a band-limited signal near full scale may overshoot
//! ±1.0 slightly after resampling, and models are better served by that than by clipping.

use rubato::audioadapter_buffers::direct::{InterleavedSlice, SequentialSlice};
use rubato::{Fft, FixedSync, Resampler};

use crate::error::MediaError;

/// The resampler's working chunk, which sets its FFT sizes (multiples of `rate / gcd` on each
/// side). For 44.1 -> 16 kHz, the commonest conversion (MP3/AAC at 44.1 kHz to speech models),
/// 1764 = 4 x 441 gives FFTs of 3528 = 2^3 x 3^2 x 7^2 in and 1280 = 2^8 x 5 out: measured 1.1 ms
/// (3.5 %) faster on the 60 s MP3 path than 1024 (3 x 441), and faster than 882 and 441, in
/// interleaved rounds on one core. For 48 kHz input (3 -> 1) it is 588 blocks of 3.
const CHUNK_FRAMES: usize = 1764;

/// Converts interleaved `samples` (`channels` per frame) from `from` Hz to `to` Hz.
pub(crate) fn resample(
    samples: Vec<f32>,
    channels: usize,
    from: u32,
    to: u32,
) -> Result<Vec<f32>, MediaError> {
    let frames = samples.len() / channels.max(1);
    if from == to || frames == 0 {
        return Ok(samples);
    }
    let internal = |e: &dyn std::fmt::Display| MediaError::Internal(format!("resampling: {e}"));
    let mut resampler = Fft::<f32>::new(
        from as usize,
        to as usize,
        CHUNK_FRAMES,
        channels,
        FixedSync::Both,
    )
    .map_err(|e| internal(&e))?;
    let output = if channels == 1 {
        // One channel is both interleaved and sequential; the sequential adapter hands rubato
        // its chunks with a memcpy instead of a per-sample strided read.
        let input = SequentialSlice::new(&samples, 1, frames).map_err(|e| internal(&e))?;
        resampler.process_all(&input, frames, None)
    } else {
        let input = InterleavedSlice::new(&samples, channels, frames).map_err(|e| internal(&e))?;
        resampler.process_all(&input, frames, None)
    };
    Ok(output.map_err(|e| internal(&e))?.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_length_in_proportion_and_passes_dc() {
        let out = resample(vec![0.25; 44_100], 1, 44_100, 16_000).unwrap();
        assert!((out.len() as i64 - 16_000).abs() <= 2, "{}", out.len());
        // Away from the edges a constant stays that constant.
        assert!(out[1000..15_000].iter().all(|v| (v - 0.25).abs() < 1e-3));
    }

    #[test]
    fn same_rate_is_a_no_op() {
        let input = vec![0.5, -0.5, 0.25];
        assert_eq!(resample(input.clone(), 1, 16_000, 16_000).unwrap(), input);
    }

    #[test]
    fn stereo_stays_interleaved() {
        let mut input = Vec::new();
        for _ in 0..4_800 {
            input.extend_from_slice(&[0.5, -0.5]);
        }
        let out = resample(input, 2, 48_000, 16_000).unwrap();
        assert_eq!(out.len() % 2, 0);
        let mid = (out.len() / 2) & !1;
        assert!((out[mid] - 0.5).abs() < 1e-3 && (out[mid + 1] + 0.5).abs() < 1e-3);
    }
}
