//! ggml tensor data → `f32`: plain floats, half floats, and the Q4_1 and Q8_0 block formats.

use half::f16;

use crate::gguf::TensorType;

/// Bytes of one Q4_1 block: f16 scale, f16 minimum, 16 bytes of packed 4-bit quants.
const Q4_1_BLOCK: usize = 20;
/// Bytes of one Q8_0 block: f16 scale, 32 signed bytes.
const Q8_0_BLOCK: usize = 34;
/// Values per quantized block.
pub const BLOCK: usize = 32;

/// Decodes `data` (whole blocks of `kind`, as [`crate::gguf::GgufFile`] checked) to floats.
pub fn dequantize(kind: TensorType, data: &[u8]) -> Vec<f32> {
    match kind {
        TensorType::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        TensorType::F16 => data.chunks_exact(2).map(|b| half(b[0], b[1])).collect(),
        TensorType::Q4_1 => {
            let mut out = Vec::with_capacity(data.len() / Q4_1_BLOCK * BLOCK);
            for block in data.chunks_exact(Q4_1_BLOCK) {
                out.extend_from_slice(&q4_1_block(block));
            }
            out
        }
        TensorType::Q8_0 => {
            let mut out = Vec::with_capacity(data.len() / Q8_0_BLOCK * BLOCK);
            for block in data.chunks_exact(Q8_0_BLOCK) {
                out.extend_from_slice(&q8_0_block(block));
            }
            out
        }
    }
}

fn half(lo: u8, hi: u8) -> f32 {
    f16::from_le_bytes([lo, hi]).to_f32()
}

/// ggml's `dequantize_row_q4_1`: the low nibbles of the 16 bytes are values 0..16, the high
/// nibbles values 16..32; each is `q·d + m`.
fn q4_1_block(block: &[u8]) -> [f32; BLOCK] {
    let d = half(block[0], block[1]);
    let m = half(block[2], block[3]);
    let mut out = [0.0; BLOCK];
    for (j, &byte) in block[4..Q4_1_BLOCK].iter().enumerate() {
        out[j] = f32::from(byte & 0x0F) * d + m;
        out[j + BLOCK / 2] = f32::from(byte >> 4) * d + m;
    }
    out
}

/// ggml's `dequantize_row_q8_0`: `q·d`.
fn q8_0_block(block: &[u8]) -> [f32; BLOCK] {
    let d = half(block[0], block[1]);
    let mut out = [0.0; BLOCK];
    for (value, &q) in out.iter_mut().zip(&block[2..Q8_0_BLOCK]) {
        *value = f32::from(q as i8) * d;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_le_bytes()
    }

    #[test]
    fn q4_1_block_by_hand() {
        // d = 0.5, m = -2: byte 0x21 at position 0 holds q=1 (value 0) and q=2 (value 16).
        let mut block = Vec::new();
        block.extend(f16_bytes(0.5));
        block.extend(f16_bytes(-2.0));
        let quants: [u8; 16] = [
            0x21, 0xF0, 0x0F, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA,
            0xBB, 0xCC,
        ];
        block.extend(quants);
        let out = dequantize(TensorType::Q4_1, &block);
        assert_eq!(out.len(), 32);
        assert_eq!(out[0], 1.0 * 0.5 - 2.0); // low nibble of 0x21
        assert_eq!(out[16], 2.0 * 0.5 - 2.0); // high nibble of 0x21
        assert_eq!(out[1], -2.0); // low nibble of 0xF0 is 0
        assert_eq!(out[17], 15.0 * 0.5 - 2.0); // high nibble of 0xF0
        assert_eq!(out[2], 15.0 * 0.5 - 2.0);
        assert_eq!(out[18], -2.0);
        assert_eq!((out[15], out[31]), (12.0 * 0.5 - 2.0, 12.0 * 0.5 - 2.0));
    }

    #[test]
    fn q8_0_blocks_by_hand() {
        let mut data = Vec::new();
        for (scale, first) in [(0.25f32, -128i8), (2.0, 127)] {
            data.extend(f16_bytes(scale));
            data.push(first as u8);
            data.extend((1..32).map(|i| (i as i8 - 16) as u8));
        }
        let out = dequantize(TensorType::Q8_0, &data);
        assert_eq!(
            (out[0], out[1], out[31]),
            (-32.0, -15.0 * 0.25, 15.0 * 0.25)
        );
        assert_eq!((out[32], out[33]), (254.0, -30.0));
    }

    #[test]
    fn plain_floats_pass_through() {
        let data: Vec<u8> = [1.5f32, -0.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(dequantize(TensorType::F32, &data), vec![1.5, -0.25]);
        let data: Vec<u8> = [f16_bytes(1.5), f16_bytes(-0.25)].concat();
        assert_eq!(dequantize(TensorType::F16, &data), vec![1.5, -0.25]);
    }
}
