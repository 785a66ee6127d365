//! Matrix products whose weights stay in their GGUF block formats (Q4_1, Q8_0).
//!
//! Decoding one token reads every weight once, so its speed is set by the bytes read: 20 bytes
//! per 32 weights here against 128 for the same weights dequantized to `f32`. A product rounds
//! each activation row to 8-bit blocks first ([`activations`]), then every block is a dot
//! product of bytes, scaled once (`d_w·d_x·Σq_w·q_x`, plus Q4_1's minimum times the block's
//! sum, `m_w·d_x·Σq_x`): what llama.cpp does, and what makes the 8-bit activations its logits
//! come from. Output rows are split across rayon's threads; each row's values are computed the
//! same way whatever the split and however many activation rows come along, so a sequence's
//! logits do not depend on the batch it runs in.

mod activations;
#[cfg(target_arch = "x86_64")]
mod avx2;
mod f16;
mod rows;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use activations::Q8Rows;

/// Values per quantized block.
pub const BLOCK: usize = 32;
/// Block-by-block dot products worth one rayon task: below this, scheduling costs more than
/// the work (a task is then ~2 µs).
const MIN_TASK_DOTS: usize = 4096;
/// Tasks per thread when there is enough work, so that a slow thread does not hold up the rest.
const TASKS_PER_THREAD: usize = 4;

/// A ggml block format the product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockFormat {
    /// 20-byte blocks: f16 scale `d`, f16 minimum `m`, 32 four-bit quants; `x = q·d + m`.
    Q4_1,
    /// 34-byte blocks: f16 scale `d`, 32 signed bytes; `x = q·d`.
    Q8_0,
}

/// The data does not hold whole rows of whole blocks.
#[derive(Debug, thiserror::Error)]
#[error("{format:?}: {bytes} bytes are not {rows} rows of {columns} values in blocks of 32")]
pub struct ShapeError {
    format: BlockFormat,
    rows: usize,
    columns: usize,
    bytes: usize,
}

/// A `[rows, columns]` matrix in a block format, stored as parallel arrays (quants, scales,
/// minimums) so that a row's scales convert to floats in one vectorized loop.
#[derive(Debug)]
pub struct QMatrix {
    rows: usize,
    columns: usize,
    blocks: Blocks,
}

#[derive(Debug)]
enum Blocks {
    Q4_1 {
        /// Byte `j` holds value `j` in its low nibble and value `j + 16` in its high one.
        quants: Vec<[u8; BLOCK / 2]>,
        /// f16 bits of each block's `d`, and of its `m`.
        scales: Vec<u16>,
        mins: Vec<u16>,
    },
    Q8_0 {
        quants: Vec<[i8; BLOCK]>,
        /// f16 bits of each block's `d`.
        scales: Vec<u16>,
    },
}

impl QMatrix {
    /// Reads `rows` rows of `columns` values in ggml's layout for `format` (as in a GGUF file:
    /// rows one after another, each a run of blocks).
    pub fn from_ggml(
        format: BlockFormat,
        rows: usize,
        columns: usize,
        data: &[u8],
    ) -> Result<Self, ShapeError> {
        let block_bytes = match format {
            BlockFormat::Q4_1 => 4 + BLOCK / 2,
            BlockFormat::Q8_0 => 2 + BLOCK,
        };
        let count = rows * (columns / BLOCK);
        if columns == 0 || !columns.is_multiple_of(BLOCK) || data.len() != count * block_bytes {
            return Err(ShapeError {
                format,
                rows,
                columns,
                bytes: data.len(),
            });
        }
        let f16_at = |block: &[u8], at: usize| u16::from_le_bytes([block[at], block[at + 1]]);
        let blocks = match format {
            BlockFormat::Q4_1 => {
                let (mut quants, mut scales, mut mins) = (
                    Vec::with_capacity(count),
                    Vec::with_capacity(count),
                    Vec::with_capacity(count),
                );
                for block in data.chunks_exact(block_bytes) {
                    scales.push(f16_at(block, 0));
                    mins.push(f16_at(block, 2));
                    let mut q = [0u8; BLOCK / 2];
                    q.copy_from_slice(&block[4..]);
                    quants.push(q);
                }
                Blocks::Q4_1 {
                    quants,
                    scales,
                    mins,
                }
            }
            BlockFormat::Q8_0 => {
                let (mut quants, mut scales) =
                    (Vec::with_capacity(count), Vec::with_capacity(count));
                for block in data.chunks_exact(block_bytes) {
                    scales.push(f16_at(block, 0));
                    let mut q = [0i8; BLOCK];
                    for (q, &byte) in q.iter_mut().zip(&block[2..]) {
                        *q = byte as i8;
                    }
                    quants.push(q);
                }
                Blocks::Q8_0 { quants, scales }
            }
        };
        Ok(Self {
            rows,
            columns,
            blocks,
        })
    }

    /// The rows of `parts` one after another (Q, K and V as one matrix): one product instead
    /// of three. `None` when they differ in format or width.
    pub fn stack(parts: Vec<Self>) -> Option<Self> {
        let mut parts = parts.into_iter();
        let mut stacked = parts.next()?;
        for part in parts {
            if part.columns != stacked.columns {
                return None;
            }
            match (&mut stacked.blocks, part.blocks) {
                (
                    Blocks::Q4_1 {
                        quants,
                        scales,
                        mins,
                    },
                    Blocks::Q4_1 {
                        quants: q,
                        scales: s,
                        mins: m,
                    },
                ) => {
                    quants.extend(q);
                    scales.extend(s);
                    mins.extend(m);
                }
                (
                    Blocks::Q8_0 { quants, scales },
                    Blocks::Q8_0 {
                        quants: q,
                        scales: s,
                    },
                ) => {
                    quants.extend(q);
                    scales.extend(s);
                }
                _ => return None,
            }
            stacked.rows += part.rows;
        }
        Some(stacked)
    }

    /// Output width of a product.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input width of a product.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Row `row` as floats, appended to `out` (an embedding lookup).
    pub fn dequantize_row(&self, row: usize, out: &mut Vec<f32>) {
        let blocks = self.columns / BLOCK;
        let range = row * blocks..(row + 1) * blocks;
        match &self.blocks {
            Blocks::Q4_1 {
                quants,
                scales,
                mins,
            } => {
                for ((q, &d), &m) in quants[range.clone()]
                    .iter()
                    .zip(&scales[range.clone()])
                    .zip(&mins[range])
                {
                    let (d, m) = (f16::to_f32(d), f16::to_f32(m));
                    let low = q.iter().map(|&b| f32::from(b & 0x0F) * d + m);
                    let high = q.iter().map(|&b| f32::from(b >> 4) * d + m);
                    out.extend(low.chain(high));
                }
            }
            Blocks::Q8_0 { quants, scales } => {
                for (q, &d) in quants[range.clone()].iter().zip(&scales[range]) {
                    let d = f16::to_f32(d);
                    out.extend(q.iter().map(|&q| f32::from(q) * d));
                }
            }
        }
    }

    /// `x · selfᵀ`: `x` holds whole rows of [`Self::columns`] values; the result has
    /// [`Self::rows`] values per row of `x`.
    pub fn matmul(&self, x: &[f32]) -> Vec<f32> {
        self.matmul_with(Kernel::detect(), x)
    }

    fn matmul_with(&self, kernel: Kernel, x: &[f32]) -> Vec<f32> {
        let blocks = self.columns / BLOCK;
        let acts = Q8Rows::quantize(x, blocks);
        let m = acts.len();
        if m == 0 || self.rows == 0 {
            return Vec::new();
        }
        // Computed output row by output row (`[rows, m]`), so each task owns one slice.
        let mut by_row = vec![0.0f32; self.rows * m];
        let per_task = rows_per_task(self.rows, m * blocks);
        by_row
            .par_chunks_mut(per_task * m)
            .enumerate()
            .for_each(|(task, out)| kernel.run(self, task * per_task, &acts, out));
        if m == 1 {
            return by_row;
        }
        omnigate_cpu_ops::transposed(&by_row, self.rows, m)
    }
}

/// Output rows per rayon task: a few tasks per thread, none too small to be worth sending.
fn rows_per_task(rows: usize, dots_per_row: usize) -> usize {
    let tasks = rayon::current_num_threads() * TASKS_PER_THREAD;
    let smallest = MIN_TASK_DOTS.div_ceil(dots_per_row.max(1));
    rows.div_ceil(tasks).max(smallest).clamp(1, rows)
}

/// The dot-product code a product runs: AVX2 where the CPU has it, plain Rust elsewhere
/// (other x86 CPUs, aarch64).
#[derive(Debug, Clone, Copy)]
enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2(pulp::x86::V3),
}

impl Kernel {
    /// The fastest the CPU runs (pulp checks the features once, as `is_x86_feature_detected!`).
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V3::try_new() {
            return Self::Avx2(simd);
        }
        Self::Scalar
    }

    /// Output rows `first_row..` of `matrix` against every row of `acts`, into `out`
    /// (`[rows, acts.len()]`).
    fn run(self, matrix: &QMatrix, first_row: usize, acts: &Q8Rows, out: &mut [f32]) {
        match self {
            Self::Scalar => rows::run(rows::Scalar, matrix, first_row, acts, out),
            // The whole loop, row decoding included, compiled with AVX2 enabled.
            #[cfg(target_arch = "x86_64")]
            Self::Avx2(simd) => {
                simd.vectorize(|| rows::run(avx2::Avx2(simd), matrix, first_row, acts, out));
            }
        }
    }
}
