//! Whisper speech recognition (English-only checkpoints such as tiny.en) on burn.
//!
//! Weights come straight from a CTranslate2 model folder (`model.bin`, `config.json`,
//! `tokenizer.json`, as shipped for faster-whisper): [`Whisper::load`] reads the float16
//! variables, and [`Whisper::transcribe_windows`] runs the log-mel front end, the encoder on
//! all windows as one batch, and batched greedy decoding with Whisper's timestamp rules.
//! Windows judged silent (digital silence, or Whisper's no-speech test) come back empty.
//!
//! ```no_run
//! use omnigate_whisper::Whisper;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = burn::tensor::Device::default();
//! let whisper = Whisper::load(std::path::Path::new("model"), &device)?;
//! let audio = vec![0.0f32; 16_000]; // 1 s of 16 kHz mono
//! let transcripts = whisper.transcribe_windows(&[&audio])?;
//! assert!(transcripts[0].text.is_empty());
//! # Ok(())
//! # }
//! ```

mod attention;
mod compression;
mod ct2;
mod decode;
mod decoder;
mod encoder;
mod error;
mod logit_rules;
mod mel;
mod mlp;
mod segments;
mod tokens;
mod weights;
mod whisper;

pub use error::WhisperError;
pub use whisper::{Segment, Whisper, WindowTranscript};
