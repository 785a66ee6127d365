//! Round trips of every request form through the binary wire format.

use super::*;
use serde_json::json;

fn tensor(c: u32, h: u32, w: u32) -> ImageTensor {
    let n = (c * h * w) as usize;
    ImageTensor {
        channels: c,
        height: h,
        width: w,
        data: (0..n).map(|i| i as f32 * 0.5 - 1.0).collect(),
    }
}

fn audio(seconds: usize) -> Audio {
    Audio {
        sample_rate: 16_000,
        channels: 1,
        samples: (0..16_000 * seconds)
            .map(|i| (i as f32 * 0.01).sin())
            .collect(),
    }
}

fn media_chat() -> ChatRequest {
    let jpeg = EncodedImage {
        format: ImageFormat::Jpeg,
        bytes: Arc::from(&b"\xff\xd8 not really a jpeg"[..]),
        width: 7,
        height: 3,
    };
    let mut extra = Map::new();
    extra.insert("name".into(), json!("alice"));
    ChatRequest {
        model: "org/model.v1".into(),
        messages: vec![
            Message::text(Role::System, "be brief"),
            Message {
                role: Role::User,
                content: Some(MessageContent::Parts(vec![
                    ContentPart::Text("look".into()),
                    ContentPart::Image(ImagePart {
                        image: ImageData::Encoded(jpeg),
                        detail: Some("high".into()),
                    }),
                    ContentPart::Image(ImagePart {
                        image: ImageData::Tensor(tensor(3, 4, 5)),
                        detail: None,
                    }),
                    ContentPart::Audio(audio(1)),
                    ContentPart::Video(Video {
                        frames: vec![VideoFrame {
                            timestamp_secs: 0.25,
                            image: ImageData::Tensor(tensor(1, 2, 2)),
                        }],
                        audio: Some(audio(1)),
                    }),
                ])),
                extra,
            },
            Message {
                role: Role::Assistant,
                content: None,
                extra: [("tool_calls".to_owned(), json!([{"id": "t1"}]))]
                    .into_iter()
                    .collect(),
            },
        ],
        params: [
            ("max_tokens".to_owned(), json!(32)),
            ("temperature".to_owned(), json!(0.7)),
            ("big".to_owned(), json!(18_446_744_073_709_551_615_u64)),
        ]
        .into_iter()
        .collect(),
    }
}

#[test]
fn chat_requests_with_every_media_form_round_trip() {
    let request = media_chat();
    let back = decode_chat(&encode_chat(&request)).unwrap();
    // The core types have no PartialEq: compare their debug forms, which show every field.
    assert_eq!(format!("{back:?}"), format!("{request:?}"));
    assert!(chat_carries_media(&request));
    assert!(!chat_carries_media(&ChatRequest::default()));
}

#[test]
fn samples_travel_as_four_bytes_each() {
    let request = TranscriptionRequest {
        model: "whisper".into(),
        audio: audio(40),
        language: Some("en".into()),
        prompt: None,
        temperature: Some(0.0),
        translate: true,
    };
    let bytes = encode_transcription(&request);
    let samples = 16_000 * 40;
    assert!(bytes.len() >= samples * 4 && bytes.len() < samples * 4 + 200);
    let back = decode_transcription(&bytes).unwrap();
    assert_eq!(format!("{back:?}"), format!("{request:?}"));
}

#[test]
fn embeddings_requests_round_trip() {
    for input in [
        EmbeddingInput::Text(vec!["a".into(), "b c".into()]),
        EmbeddingInput::Tokens(vec![vec![1, 2, 70_000], vec![]]),
        EmbeddingInput::Media(omnigate_backend::Tensor::from_f32(
            "pixel_values",
            vec![2, 3, 2, 2],
            &[0.5; 24],
        )),
    ] {
        let request = EmbeddingsRequest {
            model: "e5".into(),
            input,
            dimensions: Some(256),
            extra: [("user".to_owned(), json!("u1"))].into_iter().collect(),
        };
        let back = decode_embeddings(&encode_embeddings(&request)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{request:?}"));
    }
}

#[test]
fn a_media_tensor_that_does_not_fill_its_shape_is_refused() {
    let mut tensor = omnigate_backend::Tensor::from_f32("x", vec![2, 3], &[1.0; 6]);
    tensor.shape = vec![2, 4];
    let request = EmbeddingsRequest {
        model: "clip".into(),
        input: EmbeddingInput::Media(tensor),
        dimensions: None,
        extra: Map::new(),
    };
    let err = decode_embeddings(&encode_embeddings(&request)).unwrap_err();
    assert!(err.to_string().contains("tensor"), "{err}");
}

#[test]
fn inconsistent_or_foreign_bytes_are_refused() {
    assert!(decode_chat(b"\x00garbage").is_err());
    assert!(decode_embeddings(&encode_chat(&media_chat())).is_err());
    // A tensor whose values do not match its shape.
    let mut request = media_chat();
    if let Some(MessageContent::Parts(parts)) = &mut request.messages[1].content {
        parts[2] = ContentPart::Image(ImagePart {
            image: ImageData::Tensor(ImageTensor {
                channels: 3,
                height: 4,
                width: 5,
                data: vec![0.0; 7].into(),
            }),
            detail: None,
        });
    }
    let err = decode_chat(&encode_chat(&request)).unwrap_err();
    assert!(err.to_string().contains("3x4x5"), "{err}");
    // Stereo audio with an odd number of samples.
    let odd = TranscriptionRequest {
        model: "m".into(),
        audio: Audio {
            sample_rate: 16_000,
            channels: 2,
            samples: vec![0.0; 3].into(),
        },
        language: None,
        prompt: None,
        temperature: None,
        translate: false,
    };
    assert!(decode_transcription(&encode_transcription(&odd)).is_err());
}
