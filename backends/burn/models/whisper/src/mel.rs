//! Whisper's log-mel front end: 16 kHz audio → 80 × 3000 log-mel frames (30 s).
//!
//! Matches `whisper.audio.log_mel_spectrogram` as used by `transcribe`: the window is padded
//! with zeros to 30 s, STFT with a periodic Hann window (n_fft 400, hop 160, centred with
//! reflection at the start), power spectrum, Slaney mel filterbank, `log10(max(x, 1e-10))`,
//! floor at `max - 8`, then `(x + 4) / 4`.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Audio sample rate the model expects.
pub(crate) const SAMPLE_RATE: usize = 16_000;
/// STFT size (25 ms).
const N_FFT: usize = 400;
/// STFT hop (10 ms).
const HOP: usize = 160;
/// Number of mel bins.
pub(crate) const N_MELS: usize = 80;
/// Frames in one 30 s window.
pub(crate) const N_FRAMES: usize = 3000;
/// Samples in one 30 s window.
pub(crate) const N_SAMPLES: usize = N_FRAMES * HOP;
/// Number of one-sided FFT bins.
const N_BINS: usize = N_FFT / 2 + 1;

/// One triangular mel filter, stored only over the FFT bins where it is non-zero.
#[derive(Debug, Clone)]
struct MelFilter {
    first_bin: usize,
    weights: Vec<f32>,
}

/// Computes log-mel spectrograms; holds the FFT plan, window and filterbank.
pub(crate) struct LogMelFrontEnd {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<MelFilter>,
}

impl std::fmt::Debug for LogMelFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMelFrontEnd")
            .field("n_fft", &N_FFT)
            .field("n_mels", &self.filters.len())
            .finish()
    }
}

impl LogMelFrontEnd {
    /// Plans the FFT and builds the window and the Slaney filterbank.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // Periodic Hann (torch.hann_window default), not the symmetric one.
        let window = (0..N_FFT)
            .map(|n| {
                let phase = 2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64;
                (0.5 - 0.5 * phase.cos()) as f32
            })
            .collect();
        let filters = slaney_mel_filterbank(SAMPLE_RATE as f64, N_FFT, N_MELS)
            .into_iter()
            .map(|row| {
                let first_bin = row.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last_bin = row.iter().rposition(|&w| w > 0.0).unwrap_or(0);
                MelFilter {
                    first_bin,
                    weights: row[first_bin..=last_bin.max(first_bin)]
                        .iter()
                        .map(|&w| w as f32)
                        .collect(),
                }
            })
            .collect();
        Self {
            fft,
            window,
            filters,
        }
    }

    /// The normalized log-mel spectrogram of ≤ 30 s of audio, `[N_MELS * N_FRAMES]`, mel-major.
    pub fn log_mel(&self, samples: &[f32]) -> Vec<f32> {
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; N_BINS];
        let mut mel = vec![0f32; N_MELS * N_FRAMES];
        // Frames whose whole span lies in the zero padding have no energy: skip their FFTs.
        let silent_from = (samples.len() + N_FFT / 2).div_ceil(HOP).min(N_FRAMES);
        for t in 0..silent_from {
            for (n, (slot, w)) in frame.iter_mut().zip(&self.window).enumerate() {
                *slot = padded_sample(samples, (t * HOP + n) as isize - (N_FFT / 2) as isize) * w;
            }
            // The buffers come from the plan itself, so their lengths always match.
            if self
                .fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = power_of(*c);
            }
            for (m, filter) in self.filters.iter().enumerate() {
                let bins = &power[filter.first_bin..filter.first_bin + filter.weights.len()];
                mel[m * N_FRAMES + t] = bins.iter().zip(&filter.weights).map(|(p, w)| p * w).sum();
            }
        }
        normalize_log_mel(&mut mel);
        mel
    }
}

fn power_of(c: Complex<f32>) -> f32 {
    c.re * c.re + c.im * c.im
}

/// The sample at `index` of the audio as Whisper's STFT sees it: reflected at the start
/// (`center=True`, reflect padding) and followed by zeros (the 30 s padding).
fn padded_sample(samples: &[f32], index: isize) -> f32 {
    samples.get(index.unsigned_abs()).copied().unwrap_or(0.0)
}

/// `log10(max(x, 1e-10))`, floored at `max - 8`, then `(x + 4) / 4`, in place.
fn normalize_log_mel(mel: &mut [f32]) {
    let mut max = f32::NEG_INFINITY;
    for value in mel.iter_mut() {
        *value = value.max(1e-10).log10();
        max = max.max(*value);
    }
    let floor = max - 8.0;
    for value in mel.iter_mut() {
        *value = (value.max(floor) + 4.0) / 4.0;
    }
}

/// Slaney-style mel filterbank (`librosa.filters.mel(sr, n_fft, n_mels)` defaults:
/// fmin 0, fmax sr/2, Slaney mel scale, Slaney area normalization), `[n_mels][n_fft/2+1]`.
fn slaney_mel_filterbank(sample_rate: f64, n_fft: usize, n_mels: usize) -> Vec<Vec<f64>> {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * sample_rate / n_fft as f64)
        .collect();
    let max_mel = hz_to_mel(sample_rate / 2.0);
    let mel_freqs: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let (lower, center, upper) = (mel_freqs[m], mel_freqs[m + 1], mel_freqs[m + 2]);
            // Area normalization keeps the energy per channel roughly constant.
            let enorm = 2.0 / (upper - lower);
            fft_freqs
                .iter()
                .map(|&f| {
                    let rising = (f - lower) / (center - lower);
                    let falling = (upper - f) / (upper - center);
                    rising.min(falling).max(0.0) * enorm
                })
                .collect()
        })
        .collect()
}

/// Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde::Deserialize;

    /// Values computed independently by faster-whisper's numpy feature extractor
    /// (testdata/reference.py --write-mel).
    #[derive(Deserialize)]
    struct Reference {
        filters: Vec<(usize, usize, f64)>,
        filter_row_sums: Vec<f64>,
        chirp: Chirp,
        chirp_log_mel: Vec<(usize, usize, f32)>,
    }

    #[derive(Deserialize)]
    struct Chirp {
        seconds: f64,
        start_hz: f64,
        sweep_hz_per_s: f64,
        amplitude: f64,
    }

    fn reference() -> Reference {
        serde_json::from_str(include_str!("../testdata/mel_reference.json")).unwrap()
    }

    #[test]
    fn filterbank_matches_numpy_reference() {
        let reference = reference();
        let bank = slaney_mel_filterbank(16_000.0, 400, 80);
        assert_eq!(bank.len(), 80);
        assert!(bank.iter().all(|row| row.len() == 201));
        for (m, b, expected) in reference.filters {
            let got = bank[m][b];
            assert!(
                (got - expected).abs() < 1e-6,
                "filter[{m}][{b}] = {got}, numpy {expected}"
            );
        }
        for (m, expected) in reference.filter_row_sums.iter().enumerate() {
            let got: f64 = bank[m].iter().sum();
            assert!(
                (got - expected).abs() < 1e-6,
                "row {m} sums to {got}, numpy {expected}"
            );
        }
    }

    #[test]
    fn slaney_scale_is_linear_then_logarithmic() {
        assert!((hz_to_mel(500.0) - 7.5).abs() < 1e-12);
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(6400.0) - 42.0).abs() < 1e-9);
        for hz in [0.0, 123.0, 999.0, 1000.0, 4321.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
    }

    #[test]
    fn log_mel_of_a_chirp_matches_numpy_reference() {
        let reference = reference();
        let chirp = &reference.chirp;
        let samples: Vec<f32> = (0..(chirp.seconds * 16_000.0) as usize)
            .map(|n| {
                let t = n as f64 / 16_000.0;
                let phase =
                    2.0 * std::f64::consts::PI * (chirp.start_hz + chirp.sweep_hz_per_s * t) * t;
                (chirp.amplitude * phase.sin()) as f32
            })
            .collect();
        let mel = LogMelFrontEnd::new().log_mel(&samples);
        assert_eq!(mel.len(), N_MELS * N_FRAMES);
        for (m, frame, expected) in reference.chirp_log_mel {
            let got = mel[m * N_FRAMES + frame];
            assert!(
                (got - expected).abs() < 2e-3,
                "mel[{m}][{frame}] = {got}, numpy {expected}"
            );
        }
    }

    #[test]
    fn silence_is_flat() {
        let mel = LogMelFrontEnd::new().log_mel(&[]);
        // log10(1e-10) = -10 everywhere, the max is -10 too, so (−10 + 4) / 4.
        assert!(mel.iter().all(|&v| (v + 1.5).abs() < 1e-6));
    }
}
