//! Tensor operations that burn's pure-Rust CPU backend (`flex`) runs slowly, done fast.
//!
//! Profiles of the embedded models (MiniLM, Whisper) on flex showed two costs besides the
//! matrix products themselves:
//!
//! - **Elementwise transcendental functions.** flex evaluates `exp` (softmax) and `erf` (GELU)
//!   with scalar libm calls: a fifth of MiniLM's time and a third of Whisper's encoder. The
//!   [`softmax_last_dim`] and [`gelu`] here run vectorizable approximations on the host copy of
//!   the tensor, well inside f32 precision.
//! - **Linear layers on 3-D inputs.** flex multiplies `[batch, seq, in]` by a broadcast weight as
//!   `batch` separate small matrix products, packing the weight again for each; [`linear_rows`]
//!   flattens the rows into one product.
//!
//! These read tensors back to the host, which suits the CPU backend only: on any other device
//! (a build with burn's `cuda` or `wgpu` feature) they hand the work to burn's own kernels.

mod elementwise;
mod layout;
mod linear;

pub use elementwise::{gelu, runs_on_host, softmax_last_dim};
pub use layout::transposed;
pub use linear::linear_rows;

/// A tensor's values could not be read back to the host.
#[derive(Debug, thiserror::Error)]
#[error("reading a tensor back from the device failed: {0}")]
pub struct HostReadError(String);
