//! Activation rows rounded to 8-bit blocks, so that each block of a product is an integer dot
//! product of bytes (what makes the quantized kernels fast) scaled once.

use super::BLOCK;

/// `rows` rows of `blocks` blocks each: per block 32 signed quants `q`, a scale `d` and
/// `d · Σq`, so that the block's values are `q·d` (within `d / 2`).
#[derive(Debug)]
pub(crate) struct Q8Rows {
    pub blocks: usize,
    pub quants: Vec<[i8; BLOCK]>,
    pub scales: Vec<f32>,
    /// `d · Σq` per block: what a weight block's constant term (Q4_1's minimum) multiplies.
    pub sums: Vec<f32>,
}

impl Q8Rows {
    /// Quantizes `x`, whole rows of `blocks · 32` values.
    pub fn quantize(x: &[f32], blocks: usize) -> Self {
        let count = x.len() / BLOCK;
        let mut rows = Self {
            blocks,
            quants: Vec::with_capacity(count),
            scales: Vec::with_capacity(count),
            sums: Vec::with_capacity(count),
        };
        for values in x.chunks_exact(BLOCK) {
            let amax = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            // The largest magnitude maps to ±127; −128 is never produced, so negating a
            // quant (the Q8_0 kernel's sign trick) cannot overflow.
            let d = amax / 127.0;
            let inverse = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut quants = [0i8; BLOCK];
            let mut sum = 0i32;
            for (q, &v) in quants.iter_mut().zip(values) {
                *q = (v * inverse).round() as i8;
                sum += i32::from(*q);
            }
            rows.quants.push(quants);
            rows.scales.push(d);
            rows.sums.push(d * sum as f32);
        }
        rows
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.scales.len() / self.blocks
    }

    /// Row `m`'s quants, scales and sums.
    pub fn row(&self, m: usize) -> (&[[i8; BLOCK]], &[f32], &[f32]) {
        let range = m * self.blocks..(m + 1) * self.blocks;
        (
            &self.quants[range.clone()],
            &self.scales[range.clone()],
            &self.sums[range],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_to_within_half_a_step() {
        let x: Vec<f32> = (0..64)
            .map(|i| ((i * 37 % 64) as f32 - 30.0) * 0.1)
            .collect();
        let rows = Q8Rows::quantize(&x, 1);
        assert_eq!(rows.len(), 2);
        for (b, values) in x.chunks_exact(BLOCK).enumerate() {
            let d = rows.scales[b];
            let amax = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!((d * 127.0 - amax).abs() < 1e-6);
            let mut sum = 0.0;
            for (q, v) in rows.quants[b].iter().zip(values) {
                assert!((f32::from(*q) * d - v).abs() <= d / 2.0 + 1e-6);
                assert!(*q > i8::MIN);
                sum += f32::from(*q);
            }
            assert!((rows.sums[b] - sum * d).abs() < 1e-5);
        }
    }

    #[test]
    fn an_all_zero_block_has_zero_scale_and_quants() {
        let rows = Q8Rows::quantize(&[0.0; BLOCK], 1);
        assert_eq!((rows.scales[0], rows.sums[0]), (0.0, 0.0));
        assert_eq!(rows.quants[0], [0; BLOCK]);
    }
}
