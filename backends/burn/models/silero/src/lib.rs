//! Silero VAD v5 (16 kHz) on burn: per-chunk speech probabilities and speech segments.
//!
//! The network of silero's `silero_vad_16k.safetensors`, written out in burn: an STFT (silero's
//! strided-conv basis, applied as a matmul to frames cut on the CPU), a four-layer conv encoder
//! (lowered to dense matrices, as the sequences are 4 frames long), an LSTM cell carried from
//! chunk to chunk, and a 1×1-conv decoder. Audio is 16 kHz mono `f32`, consumed in 512-sample (32 ms)
//! chunks, each with the 64 samples before it as context, exactly as silero feeds the model.
//!
//! Everything but the LSTM recurrence is independent of the previous chunk, so it runs on all
//! chunks of a block (and of all clips in a batch) at once; only the small recurrent step is
//! sequential, and it too is batched across clips.
//!
//! ```no_run
//! # fn main() -> Result<(), omnigate_silero::VadError> {
//! use omnigate_silero::{SileroVad, VadParams};
//! let vad = SileroVad::load(
//!     "silero_vad/data/silero_vad_16k.safetensors".as_ref(),
//!     &burn::tensor::Device::flex(),
//! )?;
//! let audio = vec![0.0f32; 16_000]; // one second of 16 kHz audio
//! for segment in vad.segments(&audio, &VadParams::default())? {
//!     println!("speech from {:.2} s to {:.2} s", segment.start, segment.end);
//! }
//! # Ok(())
//! # }
//! ```

mod decoder;
mod dense_conv;
mod encoder;
mod error;
mod framing;
mod lstm;
mod network;
mod schedule;
mod segments;
mod weights;

use std::path::Path;

use burn::tensor::Device;

use crate::network::SileroNetwork;

pub use crate::error::VadError;
pub use crate::segments::{SpeechSegment, VadParams, segments_from_probabilities};

/// Sample rate the model expects, Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// Samples per probability: each probability covers one chunk of this many samples.
pub const CHUNK_SAMPLES: usize = framing::CHUNK_SAMPLES;

/// A loaded Silero VAD v5 16 kHz model. Stateless between calls: every clip starts from a
/// fresh LSTM state, so one instance can serve any number of independent requests.
pub struct SileroVad {
    network: SileroNetwork,
}

impl std::fmt::Debug for SileroVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SileroVad").finish_non_exhaustive()
    }
}

impl SileroVad {
    /// Loads `silero_vad_16k.safetensors` (from the silero-vad wheel) onto `device`.
    pub fn load(weights: &Path, device: &Device) -> Result<Self, VadError> {
        Ok(Self {
            network: SileroNetwork::load(weights, device)?,
        })
    }

    /// Speech probability of each 512-sample (32 ms) chunk of 16 kHz mono audio; a partial
    /// last chunk is zero-padded.
    pub fn probabilities(&self, samples: &[f32]) -> Result<Vec<f32>, VadError> {
        Ok(self
            .network
            .probabilities(&[samples])?
            .pop()
            .unwrap_or_default())
    }

    /// Several independent clips at once: the chunks of all clips run as one batch per time
    /// step (the LSTM state is per clip), so concurrent requests share each forward pass.
    /// The result has one probability vector per clip, in the order given.
    pub fn probabilities_batch(&self, clips: &[&[f32]]) -> Result<Vec<Vec<f32>>, VadError> {
        self.network.probabilities(clips)
    }

    /// Speech segments of 16 kHz mono audio, as silero's `get_speech_timestamps` finds them.
    pub fn segments(
        &self,
        samples: &[f32],
        params: &VadParams,
    ) -> Result<Vec<SpeechSegment>, VadError> {
        let probabilities = self.probabilities(samples)?;
        Ok(segments_from_probabilities(
            &probabilities,
            samples.len(),
            params,
        ))
    }
}
