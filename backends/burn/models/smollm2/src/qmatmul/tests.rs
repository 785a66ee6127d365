//! The quantized product against `f32` arithmetic on the dequantized weights, the plain and
//! SIMD kernels against each other, and a row's values against the batch around it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use half::f16;

use super::*;
use crate::gguf::TensorType;
use crate::quant::dequantize;

/// xorshift64*: reproducible inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Random blocks in ggml's layout, with scales and minimums like a trained model's.
fn ggml_bytes(rng: &mut Rng, format: BlockFormat, rows: usize, columns: usize) -> Vec<u8> {
    let mut data = Vec::new();
    for _ in 0..rows * columns / BLOCK {
        let d = rng.uniform(0.001, 0.05);
        data.extend(f16::from_f32(d).to_le_bytes());
        let quants = match format {
            BlockFormat::Q4_1 => {
                data.extend(f16::from_f32(-8.0 * d + rng.uniform(-0.01, 0.01)).to_le_bytes());
                BLOCK / 2
            }
            BlockFormat::Q8_0 => BLOCK,
        };
        data.extend((0..quants).map(|_| rng.next() as u8));
    }
    data
}

fn tensor_type(format: BlockFormat) -> TensorType {
    match format {
        BlockFormat::Q4_1 => TensorType::Q4_1,
        BlockFormat::Q8_0 => TensorType::Q8_0,
    }
}

struct Case {
    matrix: QMatrix,
    /// The same weights through the crate's dequantizer, `[rows, columns]`.
    weights: Vec<f32>,
    x: Vec<f32>,
}

fn case(seed: u64, format: BlockFormat, rows: usize, columns: usize, m: usize) -> Case {
    let mut rng = Rng(seed);
    let data = ggml_bytes(&mut rng, format, rows, columns);
    let x = (0..m * columns).map(|_| rng.uniform(-2.0, 2.0)).collect();
    Case {
        matrix: QMatrix::from_ggml(format, rows, columns, &data).unwrap(),
        weights: dequantize(tensor_type(format), &data),
        x,
    }
}

/// Shapes with output rows that do not divide into the tasks evenly (1001 rows of 18 blocks
/// split into several tasks on any thread count), both block formats, M = 1..16.
fn cases() -> impl Iterator<Item = Case> {
    let shapes = [
        (1, 32),
        (7, 64),
        (37, 96),
        (129, 576),
        (1001, 576),
        (300, 1536),
    ];
    let formats = [BlockFormat::Q4_1, BlockFormat::Q8_0];
    shapes
        .into_iter()
        .enumerate()
        .flat_map(move |(i, (rows, columns))| {
            formats.into_iter().flat_map(move |format| {
                (1..=16).map(move |m| case((i * 100 + m) as u64 + 1, format, rows, columns, m))
            })
        })
}

#[test]
fn agrees_with_f32_arithmetic_on_the_dequantized_weights() {
    for Case { matrix, weights, x } in cases() {
        let (rows, columns) = (matrix.rows(), matrix.columns());
        let got = matrix.matmul(&x);
        assert_eq!(got.len(), x.len() / columns * rows);
        for (j, x_row) in x.chunks_exact(columns).enumerate() {
            for (r, w_row) in weights.chunks_exact(columns).enumerate() {
                let exact: f64 = w_row
                    .iter()
                    .zip(x_row)
                    .map(|(&w, &x)| f64::from(w) * f64::from(x))
                    .sum();
                // Rounding an activation to 8 bits moves it by at most half its block's step
                // (block max / 254), so the dot product by at most Σ|w|·step/2 per block;
                // float rounding adds a little on top.
                let mut bound = 0.0f64;
                let mut magnitude = 0.0f64;
                for (w, x) in w_row.chunks_exact(BLOCK).zip(x_row.chunks_exact(BLOCK)) {
                    let step = f64::from(x.iter().fold(0.0f32, |m, v| m.max(v.abs()))) / 127.0;
                    let w_abs: f64 = w.iter().map(|&w| f64::from(w.abs())).sum();
                    bound += w_abs * step / 2.0;
                    magnitude += w
                        .iter()
                        .zip(x)
                        .map(|(&w, &x)| f64::from((w * x).abs()))
                        .sum::<f64>();
                }
                let error = (f64::from(got[j * rows + r]) - exact).abs();
                assert!(
                    error <= bound + 1e-5 * magnitude,
                    "{:?} {rows}×{columns}, row {j} output {r}: {} vs {exact} (bound {bound})",
                    matrix.blocks_format(),
                    got[j * rows + r]
                );
            }
        }
    }
}

#[test]
fn the_simd_kernel_agrees_with_the_plain_one() {
    let simd = Kernel::detect();
    if matches!(simd, Kernel::Scalar) {
        eprintln!("no SIMD kernel on this CPU: nothing to compare");
        return;
    }
    for Case { matrix, weights, x } in cases() {
        let plain = matrix.matmul_with(Kernel::Scalar, &x);
        let fast = matrix.matmul_with(simd, &x);
        let columns = matrix.columns();
        // Both sum the same exact integer block products; only the float summation order
        // differs, which moves a sum of n terms by a few ulps of the terms' magnitudes.
        for (i, (a, b)) in plain.iter().zip(&fast).enumerate() {
            let (j, r) = (i / matrix.rows(), i % matrix.rows());
            let magnitude: f32 = weights[r * columns..(r + 1) * columns]
                .iter()
                .zip(&x[j * columns..(j + 1) * columns])
                .map(|(w, x)| (w * x).abs())
                .sum();
            assert!(
                (a - b).abs() <= 1e-5 * magnitude + 1e-6,
                "{:?} {}×{columns}: {a} vs {b}",
                matrix.blocks_format(),
                matrix.rows()
            );
        }
    }
}

#[test]
fn a_rows_values_do_not_depend_on_the_batch_around_it() {
    for format in [BlockFormat::Q4_1, BlockFormat::Q8_0] {
        let Case { matrix, x, .. } = case(7, format, 1001, 576, 16);
        let together = matrix.matmul(&x);
        for (j, row) in x.chunks_exact(576).enumerate() {
            let alone = matrix.matmul(row);
            assert_eq!(
                alone,
                together[j * 1001..(j + 1) * 1001],
                "{format:?} row {j}"
            );
        }
    }
}

#[test]
fn stacked_matrices_give_their_products_side_by_side() {
    let mut rng = Rng(3);
    let parts: Vec<Vec<u8>> = [5, 3, 8]
        .iter()
        .map(|&rows| ggml_bytes(&mut rng, BlockFormat::Q4_1, rows, 64))
        .collect();
    let matrix = |data: &[u8]| QMatrix::from_ggml(BlockFormat::Q4_1, data.len() / 40, 64, data);
    let stacked = QMatrix::stack(parts.iter().map(|p| matrix(p).unwrap()).collect()).unwrap();
    assert_eq!((stacked.rows(), stacked.columns()), (16, 64));
    let x: Vec<f32> = (0..128).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let got = stacked.matmul(&x);
    let mut expected = vec![Vec::new(); 2];
    for part in &parts {
        let product = matrix(part).unwrap().matmul(&x);
        let rows = product.len() / 2;
        for (j, e) in expected.iter_mut().enumerate() {
            e.extend_from_slice(&product[j * rows..(j + 1) * rows]);
        }
    }
    assert_eq!(got, expected.concat());
    let q8 = QMatrix::from_ggml(
        BlockFormat::Q8_0,
        1,
        64,
        &ggml_bytes(&mut rng, BlockFormat::Q8_0, 1, 64),
    )
    .unwrap();
    assert!(QMatrix::stack(vec![matrix(&parts[0]).unwrap(), q8]).is_none());
}

#[test]
fn rows_dequantize_as_the_dequantizer_does() {
    for format in [BlockFormat::Q4_1, BlockFormat::Q8_0] {
        let Case {
            matrix, weights, ..
        } = case(11, format, 4, 96, 1);
        for (r, expected) in weights.chunks_exact(96).enumerate() {
            let mut row = Vec::new();
            matrix.dequantize_row(r, &mut row);
            assert_eq!(row, expected, "{format:?} row {r}");
        }
    }
}

#[test]
fn data_that_is_not_whole_rows_of_blocks_is_refused() {
    assert!(QMatrix::from_ggml(BlockFormat::Q4_1, 2, 32, &[0; 39]).is_err());
    assert!(QMatrix::from_ggml(BlockFormat::Q8_0, 1, 48, &[0; 51]).is_err());
    assert!(QMatrix::from_ggml(BlockFormat::Q8_0, 1, 32, &[0; 34]).is_ok());
}

#[test]
fn no_rows_of_input_give_no_output() {
    let Case { matrix, .. } = case(5, BlockFormat::Q4_1, 3, 32, 1);
    assert!(matrix.matmul(&[]).is_empty());
}

impl QMatrix {
    fn blocks_format(&self) -> BlockFormat {
        match self.blocks {
            Blocks::Q4_1 { .. } => BlockFormat::Q4_1,
            Blocks::Q8_0 { .. } => BlockFormat::Q8_0,
        }
    }
}
