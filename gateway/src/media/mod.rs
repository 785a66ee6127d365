//! Media at the edge: every image, audio and video part of a chat request is fetched (safely),
//! decoded off the async executor under a concurrency limit and a deadline, and shaped to the
//! target model's contract before any backend sees it.

mod contract;
mod decode_pool;
mod error;
mod limits;
mod normalizer;
mod report;
mod spans;
pub mod tensors;
mod video;

pub use contract::{MediaContract, VideoSampling};
pub use decode_pool::DecodeLoad;
pub use error::{MediaProblem, NormalizeError};
pub use normalizer::{MediaTarget, Normalized, Normalizer};
