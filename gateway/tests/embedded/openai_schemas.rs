//! OpenAI's published response schemas (`gateway/tests/openai_schemas/schemas.json`) hold for
//! every answer the embedded models give: chat completions and every stream chunk from each
//! model, MiniLM's embeddings (base64 checked decoded, as the schema types vectors as numbers),
//! Whisper's transcripts in each JSON format and streamed, and the refusals the models make
//! themselves. One Python run validates them all.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::gateway;
use crate::schema_answers::Answers;
use crate::vad::beckett;

/// The page of text the OCR tests read.
const PAGE: &[u8] = include_bytes!("testdata/ocr_page.png");

fn audio_part(wav: &[u8]) -> Value {
    json!({"type": "input_audio", "input_audio": {"data": BASE64.encode(wav), "format": "wav"}})
}

fn image_part(png: &[u8]) -> Value {
    json!({"type": "image_url",
        "image_url": {"url": format!("data:image/png;base64,{}", BASE64.encode(png))}})
}

fn chat(model: &str, part: Value) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": [part]}]})
}

fn url(path: &str) -> String {
    format!("http://{}{path}", gateway())
}

async fn post(body: &Value, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url(path))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn transcribe(wav: Vec<u8>, format: &str, stream: bool) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new()
        .text("model", "whisper-tiny.en")
        .text("response_format", format.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(wav).file_name("clip.wav"),
        );
    if stream {
        form = form.text("stream", "true");
    }
    reqwest::Client::new()
        .post(url("/v1/audio/transcriptions"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn chunk_schema(_: usize, _: usize) -> &'static str {
    "CreateChatCompletionStreamResponse"
}

#[tokio::test]
async fn every_embedded_answer_matches_openai_schemas() {
    let mut answers = Answers::default();
    let models = reqwest::get(url("/v1/models")).await.unwrap();
    let models = answers
        .json("ListModelsResponse", "models", 200, models)
        .await;
    let served: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        served,
        [
            "all-minilm-l6-v2",
            "pp-ocrv4",
            "silero-vad",
            "smollm2-135m-instruct",
            "whisper-tiny.en"
        ],
        "a new embedded model needs its answers checked here"
    );

    let chats = [
        ("OCR", chat("pp-ocrv4", image_part(PAGE))),
        (
            "OCR, boxes",
            json!({"model": "pp-ocrv4", "response_format": {"type": "json_object"},
                "messages": [{"role": "user", "content": [image_part(PAGE)]}]}),
        ),
        ("VAD", chat("silero-vad", audio_part(&beckett()))),
        ("Whisper", chat("whisper-tiny.en", audio_part(&beckett()))),
        (
            "SmolLM2",
            json!({"model": "smollm2-135m-instruct", "max_tokens": 12,
                "messages": [{"role": "user", "content": "What is the capital of France?"}]}),
        ),
    ];
    for (label, body) in chats {
        let whole = post(&body, "/v1/chat/completions").await;
        answers
            .json(
                "CreateChatCompletionResponse",
                &format!("{label} chat"),
                200,
                whole,
            )
            .await;
        for include_usage in [false, true] {
            let mut streamed = body.clone();
            streamed["stream"] = json!(true);
            streamed["stream_options"] = json!({"include_usage": include_usage});
            let response = post(&streamed, "/v1/chat/completions").await;
            let label = format!("{label} stream (include_usage: {include_usage})");
            let (events, done) = answers.stream(&label, response, chunk_schema).await;
            assert!(done, "{label}: ends with [DONE]");
            assert_eq!(events.last().unwrap()["usage"].is_object(), include_usage);
        }
    }

    embeddings(&mut answers).await;
    transcripts(&mut answers).await;

    // The models' own refusals.
    let no_picture = json!({"model": "pp-ocrv4", "messages": [{"role": "user", "content": "hi"}]});
    let response = post(&no_picture, "/v1/chat/completions").await;
    answers.error("OCR without a picture", 400, response).await;
    let no_sound = json!({"model": "silero-vad", "messages": [{"role": "user", "content": "hi"}]});
    let response = post(&no_sound, "/v1/chat/completions").await;
    answers.error("VAD without sound", 400, response).await;
    let form = reqwest::multipart::Form::new()
        .text("model", "whisper-tiny.en")
        .text("language", "fr")
        .part(
            "file",
            reqwest::multipart::Part::bytes(beckett()).file_name("clip.wav"),
        );
    let french = reqwest::Client::new()
        .post(url("/v1/audio/transcriptions"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    answers.error("Whisper asked for French", 400, french).await;
    let dimensions = json!({"model": "all-minilm-l6-v2", "input": "x", "dimensions": 256});
    let response = post(&dimensions, "/v1/embeddings").await;
    answers
        .error("MiniLM asked for 256 dimensions", 400, response)
        .await;

    answers.validate();
}

/// MiniLM's vectors as floats, and as base64 decoded back to the floats it must equal.
async fn embeddings(answers: &mut Answers) {
    let input = json!(["The schema types vectors as numbers.", "A second sentence."]);
    let ask = |format: &str| json!({"model": "all-minilm-l6-v2", "input": input, "encoding_format": format});
    let floats = post(&ask("float"), "/v1/embeddings").await;
    let floats = answers
        .json("CreateEmbeddingResponse", "embeddings (float)", 200, floats)
        .await;
    let base64 = post(&ask("base64"), "/v1/embeddings").await;
    assert_eq!(base64.status(), 200);
    let mut decoded: Value = base64.json().await.unwrap();
    for item in decoded["data"].as_array_mut().unwrap() {
        let bytes = BASE64
            .decode(item["embedding"].as_str().expect("a base64 string"))
            .unwrap();
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        item["embedding"] = json!(values);
    }
    for (a, b) in decoded["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(floats["data"].as_array().unwrap())
    {
        let float = |v: &Value| -> Vec<f32> {
            v["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        assert_eq!(float(a), float(b), "base64 holds the same floats");
    }
    answers.push(
        "CreateEmbeddingResponse",
        "embeddings (base64, decoded)",
        decoded,
    );
}

/// Whisper's transcripts in each format with a schema (`text`, `srt`, `vtt` are not JSON):
/// speech and silence, whole and streamed.
async fn transcripts(answers: &mut Answers) {
    let json = transcribe(beckett(), "json", false).await;
    answers
        .json(
            "CreateTranscriptionResponseJson",
            "transcript json",
            200,
            json,
        )
        .await;
    let verbose = transcribe(beckett(), "verbose_json", false).await;
    let verbose = answers
        .json(
            "CreateTranscriptionResponseVerboseJson",
            "transcript verbose_json",
            200,
            verbose,
        )
        .await;
    segments_are_whisper_s(&verbose);
    let silence = crate::vad::wav(16_000, &vec![0.0; 16_000 * 3]);
    let quiet = transcribe(silence, "verbose_json", false).await;
    let quiet = answers
        .json(
            "CreateTranscriptionResponseVerboseJson",
            "transcript verbose_json of silence",
            200,
            quiet,
        )
        .await;
    assert_eq!(quiet["segments"], json!([]), "{quiet}");
    let stream = transcribe(beckett(), "json", true).await;
    let (events, done) = answers
        .stream("transcript stream", stream, |i, n| {
            if i + 1 < n {
                "TranscriptTextDeltaEvent"
            } else {
                "TranscriptTextDoneEvent"
            }
        })
        .await;
    assert!(!done && events.len() >= 2, "{events:?}");
}

/// The per-segment fields mean what they mean in Whisper: the 10 ms frame the window started
/// at, the segment's token ids between its timestamps, greedy decoding (temperature 0), and
/// the window's average log-probability, compression ratio and no-speech probability.
fn segments_are_whisper_s(verbose: &Value) {
    /// tiny.en's first timestamp token, `<|0.00|>`.
    const TIMESTAMP_BEGIN: u64 = 50_363;
    let segments = verbose["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{verbose}");
    for (i, segment) in segments.iter().enumerate() {
        let number = |key: &str| segment[key].as_f64().unwrap_or_else(|| panic!("{key}"));
        let seek = segment["seek"].as_u64().unwrap();
        assert_eq!(segment["id"], i, "{segment}");
        assert!(number("start") >= seek as f64 / 100.0 - 1e-9, "{segment}");
        let tokens: Vec<u64> = segment["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap())
            .collect();
        assert!(
            tokens[0] >= TIMESTAMP_BEGIN,
            "opens with a timestamp: {segment}"
        );
        assert!(
            tokens[1..].iter().any(|&t| t < TIMESTAMP_BEGIN),
            "{segment}"
        );
        assert_eq!(number("temperature"), 0.0);
        // A clear recording: confident, plainly speech, and not a repetition loop.
        assert!((-1.0..0.0).contains(&number("avg_logprob")), "{segment}");
        assert!((0.0..0.5).contains(&number("no_speech_prob")), "{segment}");
        assert!(
            (0.5..2.4).contains(&number("compression_ratio")),
            "{segment}"
        );
        let window = |s: &Value| {
            [
                s["avg_logprob"].clone(),
                s["compression_ratio"].clone(),
                s["no_speech_prob"].clone(),
            ]
        };
        for other in segments.iter().filter(|s| s["seek"] == segment["seek"]) {
            assert_eq!(window(other), window(segment), "one window, one decode");
        }
    }
}
