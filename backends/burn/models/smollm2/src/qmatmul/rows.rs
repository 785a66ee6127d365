//! One task of a product: a run of weight rows, each decoded once (nibbles spread to bytes,
//! f16 scales to floats) and then dotted with every activation row. The block dot products
//! come from a [`Dots`] implementation: plain Rust here, AVX2 in `avx2.rs`.

use super::activations::Q8Rows;
use super::{BLOCK, Blocks, QMatrix, f16};

/// One activation row: quants, scales, `d·Σq` per block.
pub(super) type ActRow<'a> = (&'a [[i8; BLOCK]], &'a [f32], &'a [f32]);

/// Dot products of one decoded weight row with one activation row.
pub(super) trait Dots: Copy {
    /// Spreads Q4_1's packed nibbles to one value per byte: byte `j`'s low nibble is value
    /// `j`, its high nibble value `j + 16`.
    fn unpack_q4_1(self, packed: &[[u8; BLOCK / 2]], out: &mut [[u8; BLOCK]]);
    /// Q4_1: `Σ_b d[b]·d_x[b]·(q[b]·q_x[b]) + mins[b]·sums_x[b]`, `q` in 0..16.
    fn q4_1(self, q: &[[u8; BLOCK]], d: &[f32], mins: &[f32], x: ActRow<'_>) -> f32;
    /// Q8_0: `Σ_b d[b]·d_x[b]·(q[b]·q_x[b])`.
    fn q8_0(self, q: &[[i8; BLOCK]], d: &[f32], x: ActRow<'_>) -> f32;
}

/// One block's integer dot product, weights of either sign.
#[inline(always)]
fn block_dot<W: Copy + Into<i32>>(weights: &[W; BLOCK], x: &[i8; BLOCK]) -> i32 {
    weights
        .iter()
        .zip(x)
        .map(|(&w, &x)| w.into() * i32::from(x))
        .sum()
}

/// The reference: integer dot products in `i32`, summed in block order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scalar;

impl Dots for Scalar {
    #[inline(always)]
    fn unpack_q4_1(self, packed: &[[u8; BLOCK / 2]], out: &mut [[u8; BLOCK]]) {
        for (q, packed) in out.iter_mut().zip(packed) {
            let (low, high) = q.split_at_mut(BLOCK / 2);
            for ((l, h), &byte) in low.iter_mut().zip(high).zip(packed) {
                *l = byte & 0x0F;
                *h = byte >> 4;
            }
        }
    }

    #[inline(always)]
    fn q4_1(self, q: &[[u8; BLOCK]], d: &[f32], mins: &[f32], x: ActRow<'_>) -> f32 {
        let (xq, xd, xs) = x;
        let mut sum = 0.0f32;
        for b in 0..q.len() {
            sum += d[b] * xd[b] * block_dot(&q[b], &xq[b]) as f32 + mins[b] * xs[b];
        }
        sum
    }

    #[inline(always)]
    fn q8_0(self, q: &[[i8; BLOCK]], d: &[f32], x: ActRow<'_>) -> f32 {
        let (xq, xd, _) = x;
        let mut sum = 0.0f32;
        for b in 0..q.len() {
            sum += d[b] * xd[b] * block_dot(&q[b], &xq[b]) as f32;
        }
        sum
    }
}

/// Output rows `first_row..first_row + out.len() / acts.len()` of `matrix`, each against
/// every activation row, into `out` (`[rows, acts.len()]`).
#[inline(always)]
pub(super) fn run<D: Dots>(
    dots: D,
    matrix: &QMatrix,
    first_row: usize,
    acts: &Q8Rows,
    out: &mut [f32],
) {
    let (m, blocks) = (acts.len(), acts.blocks);
    let mut d = vec![0.0f32; blocks];
    match &matrix.blocks {
        Blocks::Q4_1 {
            quants,
            scales,
            mins,
        } => {
            let mut q = vec![[0u8; BLOCK]; blocks];
            let mut min = vec![0.0f32; blocks];
            for (r, out) in out.chunks_exact_mut(m).enumerate() {
                let range = (first_row + r) * blocks..(first_row + r + 1) * blocks;
                dots.unpack_q4_1(&quants[range.clone()], &mut q);
                to_f32(&scales[range.clone()], &mut d);
                to_f32(&mins[range], &mut min);
                for (j, out) in out.iter_mut().enumerate() {
                    *out = dots.q4_1(&q, &d, &min, acts.row(j));
                }
            }
        }
        Blocks::Q8_0 { quants, scales } => {
            for (r, out) in out.chunks_exact_mut(m).enumerate() {
                let range = (first_row + r) * blocks..(first_row + r + 1) * blocks;
                to_f32(&scales[range.clone()], &mut d);
                for (j, out) in out.iter_mut().enumerate() {
                    *out = dots.q8_0(&quants[range.clone()], &d, acts.row(j));
                }
            }
        }
    }
}

#[inline(always)]
fn to_f32(halves: &[u16], out: &mut [f32]) {
    for (o, &h) in out.iter_mut().zip(halves) {
        *o = f16::to_f32(h);
    }
}
