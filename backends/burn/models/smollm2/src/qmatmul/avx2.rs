//! The block dot products with AVX2 (x86-64-v3), through pulp's safe wrappers of the
//! intrinsics (the workspace forbids `unsafe`): `vpmaddubsw` multiplies 32 unsigned weight
//! bytes by 32 signed activation bytes and adds pairs into 16-bit lanes, `vpmaddwd` adds those
//! pairs into eight 32-bit sums, which are scaled as floats once per block.

use pulp::x86::V3;
use std::arch::x86_64::{__m128i, __m256, __m256i};

use super::BLOCK;
use super::rows::{ActRow, Dots};

/// AVX2 and FMA, known present.
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx2(pub V3);

impl Avx2 {
    /// `acc + scale · (a · x)`: one block's dot product, `a` unsigned bytes, `x` signed.
    #[inline(always)]
    fn block(self, (a, x): (__m256i, __m256i), scale: f32, acc: __m256) -> __m256 {
        let s = self.0;
        let pairs = s.avx2._mm256_maddubs_epi16(a, x);
        let sums = s.avx2._mm256_madd_epi16(pairs, s.avx._mm256_set1_epi16(1));
        s.fma._mm256_fmadd_ps(
            s.avx._mm256_cvtepi32_ps(sums),
            s.avx._mm256_set1_ps(scale),
            acc,
        )
    }

    /// `Σ_b scale(b) · (a[b] · x[b])` over 8 float lanes, two accumulators to hide the FMA
    /// latency. The closures must be `inline(always)`: they do not inherit the target
    /// features, and every intrinsic in an outlined one becomes a call.
    #[inline(always)]
    fn scaled_sum(
        self,
        blocks: usize,
        pair: impl Fn(usize) -> (__m256i, __m256i),
        scale: impl Fn(usize) -> f32,
    ) -> f32 {
        let s = self.0;
        let (mut even, mut odd) = (s.avx._mm256_setzero_ps(), s.avx._mm256_setzero_ps());
        for b in (0..blocks & !1).step_by(2) {
            even = self.block(pair(b), scale(b), even);
            odd = self.block(pair(b + 1), scale(b + 1), odd);
        }
        if blocks % 2 == 1 {
            even = self.block(pair(blocks - 1), scale(blocks - 1), even);
        }
        let lanes: [f32; 8] = pulp::cast::<__m256, _>(s.avx._mm256_add_ps(even, odd));
        lanes.iter().sum()
    }
}

impl Dots for Avx2 {
    #[inline(always)]
    fn unpack_q4_1(self, packed: &[[u8; BLOCK / 2]], out: &mut [[u8; BLOCK]]) {
        let s = self.0;
        let low_nibbles = s.sse2._mm_set1_epi8(0x0F);
        for (out, &packed) in out.iter_mut().zip(packed) {
            let bytes: __m128i = pulp::cast(packed);
            let low = s.sse2._mm_and_si128(bytes, low_nibbles);
            let high = s
                .sse2
                ._mm_and_si128(s.sse2._mm_srli_epi16::<4>(bytes), low_nibbles);
            *out = pulp::cast(s.avx._mm256_set_m128i(high, low));
        }
    }

    #[inline(always)]
    fn q4_1(self, q: &[[u8; BLOCK]], d: &[f32], mins: &[f32], x: ActRow<'_>) -> f32 {
        let (xq, xd, xs) = x;
        let blocks = q.len();
        let (xq, xd, xs, d, mins) = (
            &xq[..blocks],
            &xd[..blocks],
            &xs[..blocks],
            &d[..blocks],
            &mins[..blocks],
        );
        let dots = self.scaled_sum(
            blocks,
            #[inline(always)]
            |b| (pulp::cast(q[b]), pulp::cast(xq[b])),
            #[inline(always)]
            |b| d[b] * xd[b],
        );
        let constant: f32 = mins.iter().zip(xs).map(|(m, s)| m * s).sum();
        dots + constant
    }

    #[inline(always)]
    fn q8_0(self, q: &[[i8; BLOCK]], d: &[f32], x: ActRow<'_>) -> f32 {
        let (xq, xd, _) = x;
        let blocks = q.len();
        let (xq, xd, d) = (&xq[..blocks], &xd[..blocks], &d[..blocks]);
        let avx2 = self.0.avx2;
        // `vpmaddubsw` wants one unsigned operand: |w| times x with w's sign moved onto it
        // (activations never hold −128, so the negation cannot overflow).
        self.scaled_sum(
            blocks,
            #[inline(always)]
            |b| {
                let (w, x) = (pulp::cast(q[b]), pulp::cast(xq[b]));
                (avx2._mm256_abs_epi8(w), avx2._mm256_sign_epi8(x, w))
            },
            #[inline(always)]
            |b| d[b] * xd[b],
        )
    }
}
