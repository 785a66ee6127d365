//! Accuracy against an independent NumPy implementation (testdata/reference.py), which
//! wrote testdata/reference_embeddings.json from the same weights and tokenizer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    tokens: usize,
    truncated: bool,
    embedding: Vec<f32>,
}

/// The reference is float64 rounded to 7 significant digits; the crate computes in f32.
const TOLERANCE: f32 = 1e-4;

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/reference_embeddings.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn embeddings_match_the_numpy_reference() {
    let model = common::model();
    let reference = reference();
    assert_eq!(model.max_tokens(), reference.max_seq_length);
    assert_eq!(model.dimensions(), 384);
    assert!(
        reference.cases.iter().any(|case| case.truncated),
        "reference lacks a truncated text"
    );

    for case in &reference.cases {
        let tokenized = model.tokenize(&case.text).unwrap();
        assert_eq!(
            tokenized.tokens, case.tokens,
            "token count of {:?}",
            case.text
        );
        assert_eq!(tokenized.ids.len(), case.tokens, "ids of {:?}", case.text);
        assert_eq!(
            tokenized.truncated, case.truncated,
            "truncation of {:?}",
            case.text
        );

        let vectors = model.embed(std::slice::from_ref(&tokenized)).unwrap();
        assert_eq!(vectors.len(), 1);
        let diff = common::max_abs_diff(&vectors[0], &case.embedding);
        let excerpt: String = case.text.chars().take(48).collect();
        eprintln!(
            "{:>3} tokens, max |diff| {diff:.2e}: {excerpt:?}",
            case.tokens
        );
        assert!(
            diff < TOLERANCE,
            "{:?}: max component difference {diff}",
            case.text
        );
    }
}

#[test]
fn a_padded_batch_of_all_cases_matches_the_reference_too() {
    let model = common::model();
    let reference = reference();
    let batch: Vec<_> = reference
        .cases
        .iter()
        .map(|case| model.tokenize(&case.text).unwrap())
        .collect();
    let vectors = model.embed(&batch).unwrap();
    assert_eq!(vectors.len(), reference.cases.len());
    for (vector, case) in vectors.iter().zip(&reference.cases) {
        let diff = common::max_abs_diff(vector, &case.embedding);
        assert!(
            diff < TOLERANCE,
            "{:?} in a batch: max component difference {diff}",
            case.text
        );
    }
}
