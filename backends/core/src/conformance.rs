//! The conformance suite every backend must pass. A backend's own tests call [`check`] with a
//! live instance (against a real or fake upstream); it exercises each task the backend declares
//! and checks that undeclared tasks answer [`BackendError::Unsupported`].

use crate::{
    Answer, Audio, Backend, BackendError, ChatRequest, Datatype, EmbeddingInput, EmbeddingsRequest,
    InferRequest, Message, Role, Task, Tensor, TranscriptionRequest,
};
use futures::StreamExt;
use serde_json::{Map, json};

/// A broken expectation, described for the test log.
pub type Failure = String;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($msg)+));
        }
    };
}

/// Runs the whole suite against `backend`, using `model` as the backend-side model name.
pub async fn check(backend: &dyn Backend, model: &str) -> Result<(), Failure> {
    let caps = backend.capabilities();
    ensure!(
        !caps.tasks.is_empty(),
        "{}: declares no task",
        backend.name()
    );
    ensure!(!backend.name().is_empty(), "backend name must not be empty");
    backend
        .health()
        .await
        .map_err(|e| format!("{}: health() failed: {e}", backend.name()))?;

    if caps.serves(Task::Chat) {
        check_chat(backend, model).await?;
        check_chat_stream(backend, model, false).await?;
        check_chat_stream(backend, model, true).await?;
        check_stream_drop(backend, model).await?;
    } else {
        expect_unsupported(
            backend.chat(chat_request(model)).await.map(|_| ()),
            Task::Chat,
        )?;
    }
    if caps.serves(Task::Transcription) {
        check_transcription(backend, model).await?;
    } else {
        let result = backend.transcribe(transcription_request(model)).await;
        expect_unsupported(result.map(|_| ()), Task::Transcription)?;
    }
    if caps.serves(Task::Embeddings) {
        check_embeddings(backend, model).await?;
    } else {
        let result = backend.embeddings(embeddings_request(model)).await;
        expect_unsupported(result.map(|_| ()), Task::Embeddings)?;
    }
    if caps.serves(Task::Infer) {
        check_infer(backend, model).await?;
    } else {
        let request = InferRequest {
            model: model.to_owned(),
            ..InferRequest::default()
        };
        expect_unsupported(backend.infer(request).await.map(|_| ()), Task::Infer)?;
    }
    Ok(())
}

fn chat_request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![
            Message::text(Role::System, "You are terse."),
            Message::text(Role::User, "Say hello to the conformance suite."),
        ],
        params: [("max_tokens".to_owned(), json!(32))].into_iter().collect(),
    }
}

fn embeddings_request(model: &str) -> EmbeddingsRequest {
    EmbeddingsRequest {
        model: model.to_owned(),
        input: EmbeddingInput::Text(vec![
            "the first input".to_owned(),
            "a second, different input".to_owned(),
            "third".to_owned(),
        ]),
        dimensions: None,
        extra: Map::new(),
    }
}

fn expect_unsupported(result: Result<(), BackendError>, task: Task) -> Result<(), Failure> {
    match result {
        Err(BackendError::Unsupported(t)) if t == task => Ok(()),
        other => Err(format!(
            "undeclared task {task:?} must answer Unsupported, got {other:?}"
        )),
    }
}

async fn check_chat(backend: &dyn Backend, model: &str) -> Result<(), Failure> {
    let response = backend
        .chat(chat_request(model))
        .await
        .and_then(Answer::into_built)
        .map_err(|e| format!("chat failed: {e}"))?;
    ensure!(!response.id.is_empty(), "chat: empty id");
    ensure!(
        response.object == "chat.completion",
        "chat: object is {:?}",
        response.object
    );
    ensure!(!response.choices.is_empty(), "chat: no choices");
    for (i, choice) in response.choices.iter().enumerate() {
        ensure!(
            choice.index as usize == i,
            "chat: choice {i} has index {}",
            choice.index
        );
        ensure!(
            choice.message.role == "assistant",
            "chat: role {:?}",
            choice.message.role
        );
        ensure!(
            choice
                .message
                .content
                .as_deref()
                .is_some_and(|c| !c.is_empty())
                || choice.message.extra.contains_key("tool_calls"),
            "chat: choice {i} has neither content nor tool calls"
        );
        ensure!(
            choice.finish_reason.is_some(),
            "chat: choice {i} has no finish_reason"
        );
    }
    if let Some(usage) = &response.usage {
        ensure!(
            usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
            "chat: usage does not add up: {usage:?}"
        );
    }
    Ok(())
}

async fn check_chat_stream(
    backend: &dyn Backend,
    model: &str,
    include_usage: bool,
) -> Result<(), Failure> {
    let mut request = chat_request(model);
    if include_usage {
        request
            .params
            .insert("stream_options".to_owned(), json!({"include_usage": true}));
    }
    let mut stream = backend
        .chat_stream(request)
        .await
        .map_err(|e| format!("chat_stream failed: {e}"))?;
    let mut text = String::new();
    let mut ids = std::collections::BTreeSet::new();
    let mut finished = false;
    let mut usage_chunks = 0;
    let mut after_usage = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .and_then(Answer::into_built)
            .map_err(|e| format!("stream chunk failed: {e}"))?;
        ensure!(!after_usage, "stream: chunk after the usage chunk");
        ensure!(
            chunk.object == "chat.completion.chunk",
            "stream: object is {:?}",
            chunk.object
        );
        ids.insert(chunk.id.clone());
        for choice in &chunk.choices {
            if let Some(content) = &choice.delta.content {
                text.push_str(content);
            }
            finished |= choice.finish_reason.is_some();
        }
        if chunk.usage.is_some() {
            usage_chunks += 1;
            after_usage = true;
            ensure!(
                chunk.choices.is_empty(),
                "stream: usage chunk carries choices"
            );
        }
    }
    ensure!(!text.is_empty(), "stream: no content arrived");
    ensure!(ids.len() == 1, "stream: chunk ids differ: {ids:?}");
    ensure!(finished, "stream: no finish_reason");
    if include_usage {
        ensure!(
            usage_chunks == 1,
            "stream: include_usage gave {usage_chunks} usage chunks"
        );
    } else {
        ensure!(usage_chunks == 0, "stream: usage sent though not asked for");
    }
    Ok(())
}

/// Dropping a stream after its first chunk must be clean (it cancels the generation).
async fn check_stream_drop(backend: &dyn Backend, model: &str) -> Result<(), Failure> {
    let mut stream = backend
        .chat_stream(chat_request(model))
        .await
        .map_err(|e| format!("chat_stream failed: {e}"))?;
    let first = stream.next().await;
    ensure!(
        matches!(first, Some(Ok(_))),
        "stream: first chunk missing: {first:?}"
    );
    drop(stream);
    // The backend must still answer afterwards.
    backend
        .chat(chat_request(model))
        .await
        .map_err(|e| format!("chat after a dropped stream failed: {e}"))?;
    Ok(())
}

async fn check_embeddings(backend: &dyn Backend, model: &str) -> Result<(), Failure> {
    let response = backend
        .embeddings(embeddings_request(model))
        .await
        .and_then(Answer::into_built)
        .map_err(|e| format!("embeddings failed: {e}"))?;
    ensure!(
        response.data.len() == 3,
        "embeddings: {} vectors for 3 inputs",
        response.data.len()
    );
    let mut dim = None;
    for (i, item) in response.data.iter().enumerate() {
        ensure!(
            item.index as usize == i,
            "embeddings: item {i} has index {}",
            item.index
        );
        let Some(values) = item.embedding.floats() else {
            return Err("embeddings: float vectors expected when none was asked".to_owned());
        };
        ensure!(!values.is_empty(), "embeddings: empty vector");
        ensure!(
            values.iter().all(|v| v.is_finite()),
            "embeddings: non-finite value"
        );
        ensure!(
            *dim.get_or_insert(values.len()) == values.len(),
            "embeddings: vectors of different sizes"
        );
    }
    ensure!(
        response.data[0].embedding != response.data[1].embedding,
        "embeddings: different inputs gave the same vector"
    );
    Ok(())
}

/// Two seconds of a quiet 220 Hz tone at 16 kHz mono.
fn transcription_request(model: &str) -> TranscriptionRequest {
    let samples: Vec<f32> = (0..32_000)
        .map(|i| (i as f32 / 16_000.0 * 220.0 * std::f32::consts::TAU).sin() * 0.1)
        .collect();
    TranscriptionRequest {
        model: model.to_owned(),
        audio: Audio {
            sample_rate: 16_000,
            channels: 1,
            samples: samples.into(),
        },
        language: None,
        prompt: None,
        temperature: None,
        translate: false,
    }
}

async fn check_transcription(backend: &dyn Backend, model: &str) -> Result<(), Failure> {
    let response = backend
        .transcribe(transcription_request(model))
        .await
        .map_err(|e| format!("transcribe failed: {e}"))?;
    ensure!(
        (response.duration_secs - 2.0).abs() < 0.5,
        "transcribe: duration {} for 2 s of audio",
        response.duration_secs
    );
    let mut previous_end = 0.0;
    for segment in &response.segments {
        ensure!(
            segment.start_secs >= previous_end - 1e-6 && segment.end_secs >= segment.start_secs,
            "transcribe: segments out of order: {:?}",
            response.segments
        );
        ensure!(
            segment.end_secs <= response.duration_secs + 0.5,
            "transcribe: segment ends after the audio"
        );
        previous_end = segment.end_secs;
    }
    Ok(())
}

/// Inputs made from the model's signature (every free dimension 1, zeros, or `x` strings) must
/// be answered with well-formed outputs; the same inputs with the first one's datatype changed
/// must be refused as the client's fault, naming that input, before anything is sent.
async fn check_infer(backend: &dyn Backend, model: &str) -> Result<(), Failure> {
    let signature = backend
        .signature()
        .await
        .map_err(|e| format!("signature failed: {e}"))?;
    ensure!(
        !signature.inputs.is_empty(),
        "infer: the signature has no inputs"
    );
    let mut inputs = Vec::new();
    for spec in &signature.inputs {
        let shape: Vec<u64> = spec
            .shape
            .iter()
            .map(|d| u64::try_from(*d).unwrap_or(1))
            .collect();
        let count = crate::element_count(&shape).unwrap_or(0);
        let count = usize::try_from(count).map_err(|e| e.to_string())?;
        let tensor = match spec.datatype.size() {
            Some(size) => Tensor {
                name: spec.name.clone(),
                datatype: spec.datatype,
                shape,
                data: vec![0u8; count * size].into(),
            },
            None => Tensor::from_strings(spec.name.clone(), shape, &vec!["x"; count])?,
        };
        inputs.push(tensor);
    }
    let request = |inputs: Vec<Tensor>| InferRequest {
        model: model.to_owned(),
        id: Some("conformance".to_owned()),
        inputs,
        ..InferRequest::default()
    };
    let response = backend
        .infer(request(inputs.clone()))
        .await
        .map_err(|e| format!("infer failed: {e}"))?;
    ensure!(!response.outputs.is_empty(), "infer: no outputs");
    for output in &response.outputs {
        output
            .check()
            .map_err(|e| format!("infer: output `{}` is malformed: {e}", output.name))?;
        ensure!(
            signature.outputs.is_empty() || signature.outputs.iter().any(|o| o.name == output.name),
            "infer: output `{}` is not in the signature",
            output.name
        );
    }
    let mut wrong = inputs;
    let first = &mut wrong[0];
    let (datatype, data) = if first.datatype == Datatype::Bytes {
        (
            Datatype::Uint8,
            vec![0u8; crate::element_count(&first.shape).unwrap_or(0) as usize],
        )
    } else {
        let elements = first.data.len() / first.datatype.size().unwrap_or(1);
        (
            Datatype::Bytes,
            Tensor::from_strings("", vec![], &vec!["x"; elements])?
                .data
                .to_vec(),
        )
    };
    (first.datatype, first.data) = (datatype, data.into());
    match backend.infer(request(wrong)).await {
        Err(BackendError::Rejected {
            status: 400,
            param: Some(param),
            ..
        }) if param.starts_with("inputs[0]") => Ok(()),
        other => Err(format!(
            "infer: an input of the wrong datatype must be Rejected (400) naming `inputs[0]`, got {other:?}"
        )),
    }
}
