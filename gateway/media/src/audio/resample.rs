//! Sample-rate conversion by a polyphase windowed-sinc filter, fed packet by packet as the
//! decoder produces them, so no full-length buffer at the source rate ever exists.
//!
//! Why not rubato (used until 2026-12): its FFT resampler needs FFT sizes that are multiples of
//! 441 for 44.1 kHz input (3²·7², slow radices) and took 11.3 ms of a 60 s MP3's 31.5 ms; its sinc
//! resampler spends more per output sample on bookkeeping than on the filter (15 ms with 32
//! taps). Here each output sample is one dot product of 64 contiguous input samples with one
//! precomputed row of the filter, in AVX2/AVX-512 registers: about 6 ms for the same file,
//! whose whole path went from 30 to 26 ms. Summing each product's lanes at the end was then
//! a third of that (a chain of shuffles waiting on the multiply-adds), so mono sound, the usual
//! case, computes four samples at a time with their chains interleaved: about 4 ms.
//!
//! The price is a shorter filter: the FFT resampler's was a near brick wall (flat to 95 % of
//! the output's Nyquist frequency, 140 dB down past it); this one is flat (±0.01 dB) to 70 %,
//! −0.5 dB at 80 %, −4.4 dB at 90 %, and aliases what lies just above Nyquist at −28 dB (105 %),
//! −46 dB (110 %), −80 dB from 120 % on. For 16 kHz speech that is the 5.6–8 kHz band
//! softened, where little of speech's energy is. The tests pin these figures. For comparison,
//! `ffmpeg -ar 16000` with its default resampler (how Whisper's own `load_audio` gets 16 kHz),
//! measured on sines from 44.1 kHz: −1.0 dB at 90 %, aliases at −22 dB (105 %) and −43 dB
//! (110 %): a little more treble, a little more aliasing, the same class of filter.
//!
//! The output lines up with the input exactly as the FFT resampler's did (sample `n` sits at
//! input time `n · from / to`, no delay), and is `ceil(frames · to / from)` frames long.

/// How far the filter reaches on each side, in zero crossings of its sinc (one every
/// `1 / (2 · cutoff)` input samples). With a Kaiser window (β = 8) that makes a transition band
/// of about 1/4.6 of the lower Nyquist frequency, 80 dB down at its end, whatever the ratio: for
/// 44.1 or 48 kHz to 16 kHz, 32 input samples a side, 64 taps.
const ZERO_CROSSINGS: f64 = 9.5;

/// Taps come in multiples of this (two registers of 16 lanes, AVX-512's width).
const TAP_BLOCK: usize = 32;

/// Kaiser window shape: sidelobes about 80 dB down.
const KAISER_BETA: f64 = 8.0;

/// Where the filter's −6 dB point sits, as a fraction of the lower Nyquist frequency: at 1.0
/// half of the transition band lies above Nyquist and aliases into the top of the output band,
/// where the filter has already cut it; lower values trade treble for less aliasing.
const CUTOFF: f64 = 0.92;

/// Most filter rows (positions between two input samples) kept. Rates whose reduced ratio needs
/// more (44.1 kHz -> 16 kHz needs 160, an odd 44,099 Hz would need 16,000) round each output
/// position to the nearest of this many, a timing error under 1/2048 of an input sample.
const MAX_PHASES: u64 = 1024;

/// A streaming resampler for `channels` interleaved channels.
pub(crate) struct Resampler {
    channels: usize,
    /// The source advances `step_whole + step_part / to` input samples per output sample.
    step_whole: u64,
    step_part: u64,
    /// `to` and `from` divided by their greatest common divisor.
    to: u64,
    from: u64,
    /// Filter rows: `phases` positions between two input samples (plus the one on the next
    /// sample when positions are rounded), `taps` weights each. Empty when `from == to`.
    table: Vec<f32>,
    taps: usize,
    phases: u64,
    /// Per-channel input not yet consumed; `input[c][0]` is input sample `base` (negative at
    /// first: the filter sees zeros before the start).
    input: Vec<Vec<f32>>,
    base: i64,
    /// Input frames pushed.
    frames_in: u64,
    /// The next output sample's position: input sample `at` plus `part / to`.
    at: i64,
    part: u64,
    /// Interleaved output so far.
    output: Vec<f32>,
    /// Output frames produced.
    frames_out: u64,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (both positive).
    pub(crate) fn new(from: u32, to: u32, channels: usize) -> Self {
        let gcd = gcd(u64::from(from), u64::from(to)).max(1);
        let (from, to) = (u64::from(from) / gcd, u64::from(to) / gcd);
        let channels = channels.max(1);
        // Cutoff in cycles per input sample, below the lower of the two Nyquist frequencies.
        let cutoff = CUTOFF * 0.5 * (to as f64 / from as f64).min(1.0);
        let half = (ZERO_CROSSINGS / (2.0 * cutoff)).ceil() as usize;
        let taps = (2 * half).next_multiple_of(TAP_BLOCK);
        let (table, phases) = if from == to {
            (Vec::new(), 1)
        } else {
            let phases = to.min(MAX_PHASES);
            (filter_table(cutoff, taps, to, phases), phases)
        };
        Self {
            channels,
            step_whole: from / to,
            step_part: from % to,
            to,
            from,
            table,
            taps,
            phases,
            // taps/2 - 1 zeros stand for the silence before the first sample.
            input: vec![vec![0.0; taps / 2 - 1]; channels],
            base: 1 - (taps / 2) as i64,
            frames_in: 0,
            at: 0,
            part: 0,
            output: Vec::new(),
            frames_out: 0,
        }
    }

    /// Adds interleaved `samples` (whole frames) and resamples what they make computable.
    pub(crate) fn push(&mut self, samples: &[f32]) {
        if self.table.is_empty() {
            self.output.extend_from_slice(samples);
            return;
        }
        if self.channels == 1 {
            self.input[0].extend_from_slice(samples);
        } else {
            for frame in samples.chunks_exact(self.channels) {
                for (channel, sample) in self.input.iter_mut().zip(frame) {
                    channel.push(*sample);
                }
            }
        }
        self.frames_in += (samples.len() / self.channels) as u64;
        self.run(None);
    }

    /// Ends the input (the filter sees zeros after it) and returns the interleaved output.
    pub(crate) fn finish(mut self) -> Vec<f32> {
        if self.table.is_empty() {
            return self.output;
        }
        // Output sample n exists for n · from / to < frames: ceil(frames · to / from) of them.
        let total = (u128::from(self.frames_in) * u128::from(self.to))
            .div_ceil(u128::from(self.from)) as u64;
        for channel in &mut self.input {
            channel.resize(channel.len() + self.taps / 2, 0.0);
        }
        self.run(Some(total));
        self.output
    }

    /// Computes every output sample whose filter window lies within the input held (up to
    /// `limit` in all), with the CPU's widest SIMD (pulp picks AVX2 or AVX-512 at run time),
    /// then drops the input no later sample needs.
    fn run(&mut self, limit: Option<u64>) {
        pulp::Arch::new().dispatch(Filter {
            resampler: self,
            limit,
        });
    }
}

/// One [`Resampler::run`], as pulp's dispatch wants it: generic over the instruction set and
/// compiled once for each, everything below inlined into it.
struct Filter<'a> {
    resampler: &'a mut Resampler,
    limit: Option<u64>,
}

impl pulp::WithSimd for Filter<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Filter {
            resampler: r,
            limit,
        } = self;
        let taps = r.taps;
        let half = (taps / 2) as i64;
        // Output samples whose window lies within the input held: the window of the sample at
        // `at + part/to` is inputs at - half + 1 ..= at + half, so `at` may reach
        // `last = base + held - 1 - half`.
        let last = r.base + r.input[0].len() as i64 - 1 - half;
        if last < r.at {
            return;
        }
        let span = (last - r.at) as u64;
        let mut count = (u128::from(span) * u128::from(r.to) + u128::from(r.to - r.part))
            .div_ceil(u128::from(r.from)) as u64;
        if let Some(limit) = limit {
            count = count.min(limit.saturating_sub(r.frames_out));
        }
        let channels = r.channels;
        let first = r.output.len();
        r.output.resize(first + count as usize * channels, 0.0);
        let (mut at, mut part) = (r.at, r.part);
        let (to, phases, step_whole, step_part, base) =
            (r.to, r.phases, r.step_whole, r.step_part, r.base);
        let exact = phases == to;
        // The next output sample's filter row and first input index; then a step on.
        let mut next = || {
            let row = if exact {
                part
            } else {
                // Nearest of `phases` positions (row `phases` is the next input sample).
                (part * phases + to / 2) / to
            } as usize;
            let start = (at - half + 1 - base) as usize;
            part += step_part;
            at += step_whole as i64;
            if part >= to {
                part -= to;
                at += 1;
            }
            (row, start)
        };
        let table = &r.table;
        let weights = |row: usize| table.get(row * taps..(row + 1) * taps);
        let out = &mut r.output[first..];
        let mut done = 0;
        if let [input] = r.input.as_slice() {
            // Mono (sound is mixed down first, the usual case): four samples at a time, their
            // dot products interleaved so that one's multiply-adds need not wait for another's.
            for four in out.chunks_exact_mut(4) {
                let windows = [next(), next(), next(), next()]
                    .map(|(row, start)| Some((input.get(start..start + taps)?, weights(row)?)));
                if let [Some(a), Some(b), Some(c), Some(d)] = windows {
                    four.copy_from_slice(&dot4(simd, [a, b, c, d]));
                }
                done += 4;
            }
        }
        for frame in out[done..].chunks_exact_mut(channels) {
            let (row, start) = next();
            if let Some(weights) = weights(row) {
                for (out, channel) in frame.iter_mut().zip(&r.input) {
                    if let Some(window) = channel.get(start..start + taps) {
                        *out = dot(simd, window, weights);
                    }
                }
            }
        }
        (r.at, r.part) = (at, part);
        r.frames_out += count;
        // Keep from the next sample's window on.
        let held = r.input[0].len() as i64;
        let keep_from = (at - half + 1 - r.base).clamp(0, held) as usize;
        if keep_from > 0 {
            for channel in &mut r.input {
                channel.drain(..keep_from);
            }
            r.base += keep_from as i64;
        }
    }
}

/// Euclid's algorithm.
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The dot product of two `taps`-long slices in SIMD registers (two accumulators, so that
/// consecutive multiply-adds need not wait for each other), summed across lanes at the end.
/// Its rounding depends on the instruction set (FMA or not, 8 or 16 lanes), never on how the
/// input was chunked.
#[inline(always)]
fn dot<S: pulp::Simd>(simd: S, input: &[f32], weights: &[f32]) -> f32 {
    let (input, input_rest) = S::as_simd_f32s(input);
    let (weights, weights_rest) = S::as_simd_f32s(weights);
    let mut even = simd.splat_f32s(0.0);
    let mut odd = simd.splat_f32s(0.0);
    let mut pairs = input.chunks_exact(2).zip(weights.chunks_exact(2));
    for (x, w) in &mut pairs {
        even = simd.mul_add_e_f32s(x[0], w[0], even);
        odd = simd.mul_add_e_f32s(x[1], w[1], odd);
    }
    // `taps` is a multiple of 32, so with 4, 8 or 16 lanes nothing is left over here; the
    // loops below only make that not matter.
    for (x, w) in input
        .chunks_exact(2)
        .remainder()
        .iter()
        .zip(weights.chunks_exact(2).remainder())
    {
        even = simd.mul_add_e_f32s(*x, *w, even);
    }
    let mut sum = simd.reduce_sum_f32s(simd.add_f32s(even, odd));
    for (x, w) in input_rest.iter().zip(weights_rest) {
        sum += x * w;
    }
    sum
}

/// [`dot`] of four windows with their weights at once: each with exactly [`dot`]'s arithmetic
/// (so a sample's value does not depend on which others it was computed with), the four
/// interleaved so that the CPU overlaps their chains of multiply-adds and their reductions.
/// No closures touch the registers: they would not inherit pulp's target features, and each
/// operation in one would become a call.
#[inline(always)]
fn dot4<S: pulp::Simd>(simd: S, [a, b, c, d]: [(&[f32], &[f32]); 4]) -> [f32; 4] {
    let (a_x, a_rest) = S::as_simd_f32s(a.0);
    let (a_w, _) = S::as_simd_f32s(a.1);
    let (b_x, b_rest) = S::as_simd_f32s(b.0);
    let (b_w, _) = S::as_simd_f32s(b.1);
    let (c_x, c_rest) = S::as_simd_f32s(c.0);
    let (c_w, _) = S::as_simd_f32s(c.1);
    let (d_x, d_rest) = S::as_simd_f32s(d.0);
    let (d_w, _) = S::as_simd_f32s(d.1);
    let n = a_x.len();
    // Equal whole-register lengths in an even number (`taps` is a multiple of 32): the shape
    // this is written for; anything else goes one at a time.
    let regular = n % 2 == 0
        && [
            a_w.len(),
            b_x.len(),
            b_w.len(),
            c_x.len(),
            c_w.len(),
            d_x.len(),
            d_w.len(),
        ]
        .iter()
        .all(|&len| len == n)
        && a_rest.is_empty()
        && b_rest.is_empty()
        && c_rest.is_empty()
        && d_rest.is_empty()
        && a.1.len() == a.0.len()
        && b.1.len() == b.0.len()
        && c.1.len() == c.0.len()
        && d.1.len() == d.0.len();
    if !regular {
        return [
            dot(simd, a.0, a.1),
            dot(simd, b.0, b.1),
            dot(simd, c.0, c.1),
            dot(simd, d.0, d.1),
        ];
    }
    let zero = simd.splat_f32s(0.0);
    let (mut a_even, mut b_even, mut c_even, mut d_even) = (zero, zero, zero, zero);
    let (mut a_odd, mut b_odd, mut c_odd, mut d_odd) = (zero, zero, zero, zero);
    for k in (0..n).step_by(2) {
        a_even = simd.mul_add_e_f32s(a_x[k], a_w[k], a_even);
        b_even = simd.mul_add_e_f32s(b_x[k], b_w[k], b_even);
        c_even = simd.mul_add_e_f32s(c_x[k], c_w[k], c_even);
        d_even = simd.mul_add_e_f32s(d_x[k], d_w[k], d_even);
        a_odd = simd.mul_add_e_f32s(a_x[k + 1], a_w[k + 1], a_odd);
        b_odd = simd.mul_add_e_f32s(b_x[k + 1], b_w[k + 1], b_odd);
        c_odd = simd.mul_add_e_f32s(c_x[k + 1], c_w[k + 1], c_odd);
        d_odd = simd.mul_add_e_f32s(d_x[k + 1], d_w[k + 1], d_odd);
    }
    [
        simd.reduce_sum_f32s(simd.add_f32s(a_even, a_odd)),
        simd.reduce_sum_f32s(simd.add_f32s(b_even, b_odd)),
        simd.reduce_sum_f32s(simd.add_f32s(c_even, c_odd)),
        simd.reduce_sum_f32s(simd.add_f32s(d_even, d_odd)),
    ]
}

/// Rows of the low-pass filter for each of `phases` positions between two input samples (plus
/// one for the next sample itself when positions are rounded), each row scaled to sum to 1 so
/// that a constant passes unchanged.
fn filter_table(cutoff: f64, taps: usize, to: u64, phases: u64) -> Vec<f32> {
    let half = (taps / 2) as f64;
    let rows = if phases == to { phases } else { phases + 1 };
    let norm = bessel_i0(KAISER_BETA);
    let mut table = Vec::with_capacity(rows as usize * taps);
    let mut row = vec![0.0f64; taps];
    for phase in 0..rows {
        let offset = phase as f64 / phases as f64;
        for (tap, weight) in row.iter_mut().enumerate() {
            // Distance from the output position to this tap's input sample.
            let t = tap as f64 - (half - 1.0) - offset;
            let x = 2.0 * cutoff * t;
            let sinc = if x == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            let r = (t / half).clamp(-1.0, 1.0);
            let window = bessel_i0(KAISER_BETA * (1.0 - r * r).sqrt()) / norm;
            *weight = sinc * window;
        }
        let sum: f64 = row.iter().sum();
        table.extend(row.iter().map(|w| (w / sum) as f32));
    }
    table
}

/// The modified Bessel function of the first kind, order 0 (the Kaiser window), by its series.
fn bessel_i0(x: f64) -> f64 {
    let quarter_x2 = x * x / 4.0;
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > sum * 1e-17 {
        term *= quarter_x2 / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample(samples: &[f32], channels: usize, from: u32, to: u32) -> Vec<f32> {
        let mut resampler = Resampler::new(from, to, channels);
        resampler.push(samples);
        resampler.finish()
    }

    fn tone(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                (0.5 * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin()) as f32
            })
            .collect()
    }

    /// Level of `signal` relative to a 0.5-amplitude sine, in dB, over its middle 80 %.
    fn level_db(signal: &[f32]) -> f64 {
        let middle = &signal[signal.len() / 10..signal.len() * 9 / 10];
        let power = middle.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / middle.len() as f64;
        10.0 * (power / 0.125).log10()
    }

    #[test]
    fn keeps_length_in_proportion_and_passes_dc() {
        let out = resample(&[0.25; 44_100], 1, 44_100, 16_000);
        assert!((out.len() as i64 - 16_000).abs() <= 2, "{}", out.len());
        // Away from the edges a constant stays that constant.
        assert!(out[1000..15_000].iter().all(|v| (v - 0.25).abs() < 1e-3));
    }

    #[test]
    fn same_rate_is_a_no_op() {
        let input = vec![0.5, -0.5, 0.25];
        assert_eq!(resample(&input, 1, 16_000, 16_000), input);
    }

    #[test]
    fn stereo_stays_interleaved() {
        let mut input = Vec::new();
        for _ in 0..4_800 {
            input.extend_from_slice(&[0.5, -0.5]);
        }
        let out = resample(&input, 2, 48_000, 16_000);
        assert_eq!(out.len() % 2, 0);
        let mid = (out.len() / 2) & !1;
        assert!((out[mid] - 0.5).abs() < 1e-3 && (out[mid + 1] + 0.5).abs() < 1e-3);
    }

    #[test]
    fn chunking_does_not_change_a_sample() {
        // Noise-like input pushed whole and in uneven packets gives the same bits: stereo, and
        // mono, whose samples are computed four at a time (so packets move where the groups of
        // four fall, and each sample must come out the same in any group or none).
        let input: Vec<f32> = (0..2 * 30_011u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 8) as f32 / 8_388_608.0) - 1.0)
            .collect();
        for channels in [2usize, 1] {
            for (from, to) in [
                (44_100, 16_000),
                (48_000, 16_000),
                (8_000, 16_000),
                (44_099, 16_000),
            ] {
                let whole = resample(&input, channels, from, to);
                let mut resampler = Resampler::new(from, to, channels);
                let mut rest = input.as_slice();
                for size in [1usize, 1152, 7, 4096, 2, 333].iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (packet, after) = rest.split_at((size * channels).min(rest.len()));
                    resampler.push(packet);
                    rest = after;
                }
                assert_eq!(resampler.finish(), whole, "{channels} x {from} -> {to}");
                let frames = (input.len() / channels) as u64;
                let want = (frames * u64::from(to)).div_ceil(u64::from(from));
                assert_eq!(
                    whole.len() as u64,
                    channels as u64 * want,
                    "{channels} x {from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn agrees_with_the_fft_resampler_it_replaced_below_its_rolloff() {
        // Speech-band tones through both; the new filter differs only near Nyquist.
        use rubato::audioadapter_buffers::direct::SequentialSlice;
        use rubato::{Fft, FixedSync, Resampler as _};
        for (from, to) in [
            (44_100u32, 16_000u32),
            (48_000, 16_000),
            (22_050, 16_000),
            (8_000, 16_000),
        ] {
            let input: Vec<f32> = tone(220.0, from, 1.0)
                .iter()
                .zip(tone(1_000.0, from, 1.0))
                .zip(tone(3_100.0, from, 1.0))
                .map(|((a, b), c)| (a + b + c) / 3.0)
                .collect();
            let mut fft =
                Fft::<f32>::new(from as usize, to as usize, 1764, 1, FixedSync::Both).unwrap();
            let slice = SequentialSlice::new(&input, 1, input.len()).unwrap();
            let before = fft
                .process_all(&slice, input.len(), None)
                .unwrap()
                .take_data();
            let now = resample(&input, 1, from, to);
            assert_eq!(now.len(), before.len(), "{from} -> {to}");
            // Away from the edges, where the two filters' different lengths see the start.
            let edge = to as usize / 50;
            let worst = now[edge..now.len() - edge]
                .iter()
                .zip(&before[edge..before.len() - edge])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "{from} -> {to}: differs by {worst}");
        }
    }

    #[test]
    fn passband_and_aliasing_as_documented() {
        for (from, to) in [(44_100u32, 16_000u32), (48_000, 16_000), (96_000, 16_000)] {
            let nyquist = f64::from(to) / 2.0;
            let gain = |fraction: f64| {
                level_db(&resample(&tone(fraction * nyquist, from, 2.0), 1, from, to))
            };
            for (fraction, low, high) in [
                (0.1, -0.01, 0.01),
                (0.7, -0.02, 0.01),
                (0.8, -0.8, -0.2),
                (0.9, -5.5, -3.0),
            ] {
                let g = gain(fraction);
                assert!(
                    (low..=high).contains(&g),
                    "{from} -> {to}: {fraction} of Nyquist at {g:.2} dB"
                );
            }
            for (fraction, most) in [(1.05, -24.0), (1.1, -38.0), (1.2, -78.0), (1.5, -78.0)] {
                let g = gain(fraction);
                assert!(
                    g < most,
                    "{from} -> {to}: {fraction} of Nyquist aliased at {g:.1} dB"
                );
            }
        }
    }
}
