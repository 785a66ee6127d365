//! Softmax and GELU with a vectorizable `exp`.
//!
//! A 30 s window costs Whisper's encoder ~54 million softmax terms and ~9 million GELUs, and
//! GELU was a fifth of MiniLM's time. burn's CPU backend evaluates both with scalar libm calls
//! (`exp`, `erf`). The functions below are branch-free straight-line arithmetic on `f32`, so
//! LLVM turns each loop into SIMD code, compiled for AVX2 and AVX-512 too and chosen at run time
//! through `pulp`. Their errors (`exp` ≤ 3 ulp, `erf` ≤ 1.5e-7 absolute) are far below what the
//! models' weights (float16 for Whisper) resolve.

use burn::tensor::{Device, Tensor, TensorData, activation};
use rayon::prelude::*;

use crate::HostReadError;

/// Rows handed to one rayon task: enough work to amortize the scheduling.
const ROWS_PER_TASK: usize = 16;
/// Lane count the row loops are written for (one AVX-512 register of f32; LLVM splits it for
/// narrower SIMD).
const LANES: usize = 16;

/// Softmax over the last dimension of `x`: on the host for the CPU backend, burn's own kernel
/// on a GPU. Rows must hold a finite value (a row masked entirely to −∞ comes out uniform on
/// the host, not NaN).
pub fn softmax_last_dim<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>, HostReadError> {
    if !runs_on_host(&x.device()) {
        return Ok(activation::softmax(x, D - 1));
    }
    let row_len = x.dims()[D - 1];
    map_on_host(x, |values| softmax_rows_in_place(values, row_len))
}

/// GELU of every element of `x`: on the host for the CPU backend, burn's own kernel on a GPU.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Result<Tensor<D>, HostReadError> {
    if !runs_on_host(&x.device()) {
        return Ok(activation::gelu(x));
    }
    map_on_host(x, gelu_in_place)
}

/// Whether `device` is burn's CPU backend, whose memory is the host's: there a round trip
/// through these kernels is cheap, while on a GPU it would copy every tensor over the bus.
pub fn runs_on_host(device: &Device) -> bool {
    *device == Device::flex()
}

/// Reads `x` back, applies `f` to its values in place and makes a tensor of them again.
fn map_on_host<const D: usize>(
    x: Tensor<D>,
    f: impl FnOnce(&mut [f32]),
) -> Result<Tensor<D>, HostReadError> {
    let (device, dims) = (x.device(), x.dims());
    let mut values = x
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| HostReadError(format!("{e:?}")))?;
    f(&mut values);
    Ok(Tensor::from_data(TensorData::new(values, dims), &device))
}

/// Softmax of every `row_len`-long row of `values`, in place.
fn softmax_rows_in_place(values: &mut [f32], row_len: usize) {
    if row_len == 0 {
        return;
    }
    let arch = pulp::Arch::new();
    values
        .par_chunks_mut(row_len * ROWS_PER_TASK)
        .for_each(|rows| arch.dispatch(|| rows.chunks_exact_mut(row_len).for_each(softmax_row)));
}

// `inline(always)` down to `exp`: the loops must be compiled inside pulp's dispatch, where the
// wider SIMD instruction sets are enabled.
#[inline(always)]
fn softmax_row(row: &mut [f32]) {
    let max = lane_max(row);
    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (value, sum) in chunk.iter_mut().zip(&mut sums) {
            *value = exp_nonpositive(*value - max);
            *sum += *value;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for value in chunks.into_remainder() {
        *value = exp_nonpositive(*value - max);
        sum += *value;
    }
    let inverse = 1.0 / sum;
    for value in row.iter_mut() {
        *value *= inverse;
    }
}

/// The largest value of `row` (−∞ for an empty row), reduced lane-wise so it vectorizes.
#[inline(always)]
fn lane_max(row: &[f32]) -> f32 {
    let mut maxima = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let remainder = chunks.remainder();
    for chunk in chunks {
        for (value, max) in chunk.iter().zip(&mut maxima) {
            *max = max.max(*value);
        }
    }
    remainder
        .iter()
        .chain(&maxima)
        .fold(f32::NEG_INFINITY, |max, &value| max.max(value))
}

/// GELU (the exact, erf-based one BERT and Whisper were trained with) of every value, in place.
fn gelu_in_place(values: &mut [f32]) {
    let arch = pulp::Arch::new();
    values.par_chunks_mut(GELU_PER_TASK).for_each(|chunk| {
        arch.dispatch(|| chunk.iter_mut().for_each(|x| *x = gelu_scalar(*x)));
    });
}

/// Values handed to one rayon task by [`gelu_in_place`].
const GELU_PER_TASK: usize = 1 << 14;

#[inline(always)]
fn gelu_scalar(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), odd-extended with the sign bit.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let ax = x.abs();
    let t = 1.0 / (1.0 + P * ax);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    let magnitude = 1.0 - poly * exp_nonpositive(-ax * ax);
    magnitude.copysign(x)
}

/// `e^x` for `x ≤ 0` (softmax terms after subtracting the row maximum): Cephes' `expf`
/// polynomial on `r = x − n·ln 2`, times `2^n` built directly in the exponent bits.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    // Below this, e^x is under f32's smallest normal; softmax weights that small are 0 anyway.
    const MIN_X: f32 = -87.0;
    // Adding 1.5·2^23 rounds to an integer and leaves it in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const ROUND_BITS: i32 = 0x4B40_0000;
    // ln 2 split so that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.max(MIN_X);
    // Plain `*` and `+`, not `mul_add`: without a target FMA, `mul_add` is a libm call.
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    // n ∈ [−126, 0]: the biased exponent n + 127 stays a normal number's.
    let exponent = (shifted.to_bits() as i32 - ROUND_BITS + 127) << 23;
    p * f32::from_bits(exponent as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_within_a_few_ulp() {
        let mut x = -87.0f32;
        while x <= 0.0 {
            let (fast, exact) = (exp_nonpositive(x), x.exp());
            assert!(
                (fast - exact).abs() <= 3.0 * f32::EPSILON * exact,
                "exp({x}) = {fast}, std says {exact}"
            );
            x += 0.001_3;
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-1000.0) < 1e-37);
        assert!(exp_nonpositive(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn gelu_matches_the_erf_definition() {
        let mut values: Vec<f32> = (-800..=800).map(|i| i as f32 * 0.005).collect();
        let inputs = values.clone();
        gelu_in_place(&mut values);
        for (x, got) in inputs.into_iter().zip(values) {
            let x64 = f64::from(x);
            let want = 0.5 * x64 * (1.0 + erf_series(x64 / std::f64::consts::SQRT_2));
            assert!(
                (f64::from(got) - want).abs() < 1e-6,
                "gelu({x}) = {got}, want {want}"
            );
        }
        let mut tails = [-12.0f32, -6.0, 6.0, 12.0];
        gelu_in_place(&mut tails);
        assert_eq!(
            tails.map(|v| (v * 1e5).round() / 1e5),
            [0.0, 0.0, 6.0, 12.0]
        );
    }

    /// erf by its Maclaurin series, exact to f64 rounding for |x| ≤ 3 (the terms stay small).
    fn erf_series(x: f64) -> f64 {
        assert!(x.abs() <= 3.0);
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-18 {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn rows_sum_to_one_and_match_the_textbook_softmax() {
        let row_len = 37; // not a multiple of the lane count
        let mut values: Vec<f32> = (0..row_len * 5)
            .map(|i| ((i * 7919) % 113) as f32 * 0.37 - 20.0)
            .collect();
        let expected: Vec<f32> = values
            .chunks(row_len)
            .flat_map(|row| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                exps.into_iter().map(move |e| (e / sum) as f32)
            })
            .collect();
        softmax_rows_in_place(&mut values, row_len);
        for (row, expected_row) in values.chunks(row_len).zip(expected.chunks(row_len)) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "{sum}");
            for (got, want) in row.iter().zip(expected_row) {
                assert!((got - want).abs() <= 1e-6 + 1e-5 * want, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn a_row_of_minus_infinity_but_one_is_one_hot() {
        let mut row = vec![f32::NEG_INFINITY; 10];
        row[3] = 5.0;
        softmax_rows_in_place(&mut row, 10);
        assert_eq!(row[3], 1.0);
        assert!(row.iter().enumerate().all(|(i, &p)| i == 3 || p < 1e-37));

        let mut masked = vec![f32::NEG_INFINITY; 10];
        softmax_rows_in_place(&mut masked, 10);
        assert!(masked.iter().all(|&p| (p - 0.1).abs() < 1e-6), "{masked:?}");
    }
}
