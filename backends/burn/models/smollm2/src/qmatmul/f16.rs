//! IEEE half float → `f32` as plain integer arithmetic with no branches, so that the loop
//! turning a weight row's block scales into floats vectorizes (a per-value call into `half`
//! does not, and decoding one token converts ~5 million scales).

/// The `f32` equal to the half float with bits `h` (every value: zeros, subnormals, infinities
/// and NaNs included).
#[inline(always)]
pub(crate) fn to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let sign = (h & 0x8000) << 16;
    let magnitude = h & 0x7FFF;
    let exponent = magnitude & 0x7C00;
    // Normal numbers: rebias the exponent from 15 to 127 (112 = 127 − 15) and widen the
    // mantissa from 10 to 23 bits.
    let normal = (magnitude + (112 << 10)) << 13;
    // Infinities and NaNs: the largest exponent stays the largest.
    let special = (magnitude << 13) | 0x7F80_0000;
    // Zeros and subnormals: `mantissa · 2⁻²⁴`, exact in f32.
    let subnormal = (magnitude as f32 * f32::from_bits(0x3380_0000)).to_bits();
    let bits = if exponent == 0x7C00 {
        special
    } else if exponent == 0 {
        subnormal
    } else {
        normal
    };
    f32::from_bits(sign | bits)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_half_float_converts_as_the_half_crate_does() {
        for h in 0..=u16::MAX {
            let ours = super::to_f32(h);
            let theirs = half::f16::from_bits(h).to_f32();
            assert!(
                ours.to_bits() == theirs.to_bits() || (ours.is_nan() && theirs.is_nan()),
                "{h:#06x}: {ours} vs {theirs}"
            );
        }
    }
}
