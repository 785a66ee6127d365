//! The embedded chat model (SmolLM2) through the backend trait: greedy answers, sampling
//! parameters, stop sequences, usage, streaming, continuous batching, the bounded queue and
//! abandoned streams. Needs the model in the cache (`.ci/fetch-models`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use omnigate_backend::{
    Answer, Backend, BackendError, ChatChunk, ChatRequest, ChatResponse, Message, Role,
};
use omnigate_backend_burn::{
    Architecture, BatchLimits, ComputeDevice, EmbeddedBackend, EmbeddedSettings,
};
use omnigate_weights::{FetchSettings, Fetcher};
use serde_json::{Value, json};

async fn start(limits: BatchLimits) -> EmbeddedBackend {
    let arch = Architecture::SmolLm2;
    let fetcher = Fetcher::new(FetchSettings::default()).unwrap();
    let model_dir = fetcher
        .ensure(&arch.default_source().unwrap(), arch.files())
        .await
        .unwrap();
    let settings = EmbeddedSettings {
        architecture: arch,
        model_dir,
        limits,
        companion_dir: None,
        device: ComputeDevice::Cpu,
    };
    EmbeddedBackend::start("smollm2-test", settings)
        .await
        .unwrap()
}

fn request(question: &str, params: Value) -> ChatRequest {
    ChatRequest {
        model: "smollm2".into(),
        messages: vec![Message::text(Role::User, question)],
        params: params.as_object().cloned().unwrap_or_default(),
    }
}

async fn complete(backend: &EmbeddedBackend, request: ChatRequest) -> ChatResponse {
    match backend.chat(request).await.unwrap() {
        Answer::Built(response) => response,
        Answer::Relayed(_) => panic!("the embedded backend builds its answers"),
    }
}

fn text(response: &ChatResponse) -> String {
    serde_json::to_value(&response.choices[0].message).unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn collect(backend: &EmbeddedBackend, request: ChatRequest) -> Vec<ChatChunk> {
    let stream = backend.chat_stream(request).await.unwrap();
    stream
        .map(|item| match item.unwrap() {
            Answer::Built(chunk) => chunk,
            Answer::Relayed(_) => panic!("the embedded backend builds its chunks"),
        })
        .collect()
        .await
}

// llama.cpp answers "The capital of France is Paris." to this with a clear margin: its first
// choice leads its second by ≥ 1.0 logit at each of the first eight steps. "What is the capital
// of France?" is a coin toss for this model (24.91 against 24.56 at the first step), so how the
// activations are rounded picks the answer.
const FRANCE: &str = "Name the capital of France.";

#[tokio::test(flavor = "multi_thread")]
async fn greedy_answers_with_real_usage_and_finish_reasons() {
    let backend = start(BatchLimits::default()).await;
    let greedy = json!({"temperature": 0});
    let answer = complete(&backend, request(FRANCE, greedy.clone())).await;
    assert!(text(&answer).contains("Paris"), "{}", text(&answer));
    assert_eq!(answer.choices[0].finish_reason.as_deref(), Some("stop"));
    let usage = answer.usage.as_ref().unwrap();
    // The default system message, the question and the template's tokens.
    assert!((30..60).contains(&usage.prompt_tokens), "{usage:?}");
    assert!(usage.completion_tokens > 0);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );

    let cut = complete(
        &backend,
        request(
            FRANCE,
            json!({"temperature": 0, "max_completion_tokens": 3}),
        ),
    )
    .await;
    assert_eq!(cut.choices[0].finish_reason.as_deref(), Some("length"));
    assert_eq!(cut.usage.as_ref().unwrap().completion_tokens, 3);
    assert!(text(&answer).starts_with(&text(&cut)));

    let stopped = complete(
        &backend,
        request(FRANCE, json!({"temperature": 0, "stop": ["Paris"]})),
    )
    .await;
    assert_eq!(stopped.choices[0].finish_reason.as_deref(), Some("stop"));
    let before = text(&answer);
    assert_eq!(text(&stopped), before[..before.find("Paris").unwrap()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seed_repeats_a_sampled_reply() {
    let backend = start(BatchLimits::default()).await;
    let params = json!({"temperature": 1.2, "top_p": 0.95, "seed": 42, "max_tokens": 24});
    let poem = "Write a short poem about rain.";
    let a = text(&complete(&backend, request(poem, params.clone())).await);
    let b = text(&complete(&backend, request(poem, params)).await);
    assert_eq!(a, b);
    let others: Vec<String> = futures::future::join_all((1..4).map(|seed| {
        let params = json!({"temperature": 1.2, "top_p": 0.95, "seed": seed, "max_tokens": 24});
        let backend = &backend;
        async move { text(&complete(backend, request(poem, params)).await) }
    }))
    .await;
    assert!(others.iter().any(|o| *o != a), "four seeds, one reply: {a}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_parameters_are_clear_400s() {
    let backend = start(BatchLimits::default()).await;
    for (params, param) in [
        (json!({"n": 2}), "n"),
        (json!({"temperature": 3}), "temperature"),
        (json!({"top_p": 0}), "top_p"),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"seed": "x"}), "seed"),
    ] {
        match backend.chat(request("hi", params.clone())).await {
            Err(BackendError::Rejected {
                status: 400,
                param: Some(p),
                ..
            }) => assert_eq!(p, param, "{params}"),
            Err(other) => panic!("{params}: {other}"),
            Ok(_) => panic!("{params} was accepted"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_carries_the_same_reply_token_by_token() {
    let backend = start(BatchLimits::default()).await;
    let whole = text(&complete(&backend, request(FRANCE, json!({"temperature": 0}))).await);
    let params = json!({"temperature": 0, "stream_options": {"include_usage": true}});
    let chunks = collect(&backend, request(FRANCE, params)).await;
    assert_eq!(
        chunks[0].choices[0].delta.role.as_deref(),
        Some("assistant")
    );
    let pieces: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.content.as_deref())
        .collect();
    assert!(pieces.len() > 2, "one piece per token or so: {pieces:?}");
    assert_eq!(pieces.concat(), whole);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish.choices[0].finish_reason.as_deref(), Some("stop"));
    let usage = chunks.last().unwrap().usage.as_ref().unwrap();
    assert!(chunks.last().unwrap().choices.is_empty());
    assert!(usage.completion_tokens as usize >= pieces.len());
    assert!(chunks.iter().all(|c| c.id == chunks[0].id));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_share_steps_and_get_their_own_answers() {
    let backend = start(BatchLimits::default()).await;
    let questions = [
        FRANCE,
        "What is 2 + 2?",
        "Name a color of the sky.",
        "Say hello in Spanish.",
    ];
    let greedy = || json!({"temperature": 0, "max_tokens": 16});
    let mut alone = Vec::new();
    for q in questions {
        alone.push(text(&complete(&backend, request(q, greedy())).await));
    }
    let together = futures::future::join_all(
        questions
            .iter()
            .map(|q| complete(&backend, request(q, greedy()))),
    )
    .await;
    for ((q, alone), together) in questions.iter().zip(&alone).zip(&together) {
        assert_eq!(&text(together), alone, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_is_a_429_and_a_dropped_stream_frees_its_place() {
    let limits = BatchLimits {
        max_batch_size: 1,
        queue_capacity: 1,
        ..BatchLimits::default()
    };
    let backend = start(limits).await;
    let long = || {
        request(
            "Tell me a long story.",
            json!({"temperature": 0, "max_tokens": 2000, "stop": []}),
        )
    };
    // The first stream is generating (its first text arrived): it holds the only place.
    let mut first = backend.chat_stream(long()).await.unwrap();
    first.next().await.unwrap().unwrap(); // role
    first.next().await.unwrap().unwrap(); // text
    // The second waits in the queue; the third finds it full.
    let second = backend.chat_stream(long()).await.unwrap();
    match backend.chat_stream(long()).await {
        Err(BackendError::Overloaded(message)) => assert!(message.contains("queued"), "{message}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a third request was queued"),
    }
    drop(second);
    // Dropping the first stream stops its generation at the next step, and the abandoned
    // second leaves the queue when the worker reaches it: within a few steps a short request
    // is accepted and answered, rather than after up to 2000 tokens.
    drop(first);
    let started = Instant::now();
    let short = || request(FRANCE, json!({"temperature": 0, "max_tokens": 4}));
    let answer = loop {
        match backend.chat(short()).await {
            Ok(Answer::Built(answer)) => break answer,
            Err(BackendError::Overloaded(_)) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    };
    assert_eq!(answer.usage.unwrap().completion_tokens, 4);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
