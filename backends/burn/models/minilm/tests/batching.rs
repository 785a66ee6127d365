//! Batching must not change any vector; edge cases of the input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use omnigate_minilm::{MiniLmError, Tokenized};

const SHORT: &str = "A cat sits on the mat.";
const LONG: &str = "The committee postponed its decision on the new railway line until the \
    environmental survey of the wetlands along the proposed route is complete, which the \
    engineers expect to take at least another eighteen months because of the seasonal \
    migration of protected bird species through the valley.";

fn norm(vector: &[f32]) -> f32 {
    vector.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn a_sentence_gets_the_same_vector_alone_and_next_to_a_much_longer_one() {
    let model = common::model();
    let short = model.tokenize(SHORT).unwrap();
    let long = model.tokenize(LONG).unwrap();
    assert!(
        long.tokens > 4 * short.tokens,
        "{} vs {} tokens",
        long.tokens,
        short.tokens
    );

    let alone = model.embed(std::slice::from_ref(&short)).unwrap();
    let long_alone = model.embed(std::slice::from_ref(&long)).unwrap();
    // Short first and last, so padding sits both between and after real items.
    let batch = model.embed(&[short.clone(), long, short]).unwrap();

    assert_eq!(batch.len(), 3);
    for (position, expected) in [(0, &alone[0]), (1, &long_alone[0]), (2, &alone[0])] {
        let diff = common::max_abs_diff(&batch[position], expected);
        assert!(diff < 1e-5, "item {position} moved by {diff} when batched");
    }
}

#[test]
fn vectors_are_unit_length_and_different_texts_differ() {
    let model = common::model();
    let batch = [
        model.tokenize(SHORT).unwrap(),
        model.tokenize(LONG).unwrap(),
    ];
    let vectors = model.embed(&batch).unwrap();
    for vector in &vectors {
        assert_eq!(vector.len(), model.dimensions());
        assert!((norm(vector) - 1.0).abs() < 1e-5, "norm {}", norm(vector));
    }
    assert!(common::max_abs_diff(&vectors[0], &vectors[1]) > 0.01);
}

#[test]
fn the_empty_string_is_just_cls_and_sep() {
    let model = common::model();
    let empty = model.tokenize("").unwrap();
    assert_eq!(empty.tokens, 2);
    assert_eq!(empty.ids, [101, 102]);
    assert!(!empty.truncated);

    let vectors = model
        .embed(&[empty, model.tokenize(SHORT).unwrap()])
        .unwrap();
    assert!(vectors[0].iter().all(|x| x.is_finite()));
    assert!((norm(&vectors[0]) - 1.0).abs() < 1e-5);
}

#[test]
fn long_texts_are_cut_to_max_tokens() {
    let model = common::model();
    let text = "word ".repeat(1000);
    let tokenized = model.tokenize(&text).unwrap();
    assert_eq!(tokenized.tokens, model.max_tokens());
    assert!(tokenized.truncated);
    assert_eq!(tokenized.ids.first(), Some(&101));
    assert_eq!(tokenized.ids.last(), Some(&102));
    assert_eq!(model.embed(&[tokenized]).unwrap().len(), 1);
}

#[test]
fn an_empty_batch_gives_no_vectors() {
    assert!(common::model().embed(&[]).unwrap().is_empty());
}

#[test]
fn hand_built_items_the_model_cannot_take_are_rejected() {
    let model = common::model();
    let too_long = Tokenized {
        ids: vec![101; model.max_tokens() + 1],
        tokens: model.max_tokens() + 1,
        truncated: false,
    };
    let error = model
        .embed(&[model.tokenize(SHORT).unwrap(), too_long])
        .unwrap_err();
    assert!(
        matches!(error, MiniLmError::InvalidInput { index: 1, .. }),
        "{error}"
    );
}

#[test]
fn a_folder_without_weights_fails_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("minilm-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "sentence_bert_config.json", "tokenizer.json"] {
        std::fs::copy(common::model_dir().join(file), dir.join(file)).unwrap();
    }
    let error = omnigate_minilm::MiniLm::load(&dir, &burn::tensor::Device::flex()).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(error.to_string().contains("model.safetensors"), "{error}");
}
