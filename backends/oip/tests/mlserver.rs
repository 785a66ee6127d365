//! The v2 backend against a real MLServer (started by the testkit on free loopback ports), over
//! gRPC and REST: the conformance suite, embeddings and inference answered by the server's
//! models, metadata checked against the config, and a server that is not there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use futures::StreamExt;
use omnigate_backend::{
    Answer, Backend, BackendError, ChatRequest, Datatype, EmbeddingInput, EmbeddingsRequest,
    InferRequest, Message, Role, Tensor,
};
use omnigate_backend_oip::{
    ConnectError, Contract, Dialect, EmbeddingTensors, Endpoint, Generate, MediaInput, OipBackend,
    OipSettings, Protocol,
};
use omnigate_testkit::MlServer;
use omnigate_testkit::mlserver::hash_vector;
use std::time::Duration;

fn settings(url: &str, protocol: Protocol, model: &str) -> OipSettings {
    OipSettings {
        endpoint: Endpoint {
            url: url.parse().unwrap(),
            protocol,
            model: model.to_owned(),
            version: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            connections: 2,
            headers: vec![("x-test".to_owned(), "secret".to_owned().into())],
            root_certificate: None,
        },
        contract: Contract {
            deployment_key: "models.m.deployments[0]".to_owned(),
            ..Contract::default()
        },
        generate: None,
    }
}

/// The shared server's address for `protocol`.
fn both() -> [(Protocol, String); 2] {
    let server = MlServer::shared();
    [
        (Protocol::Grpc, server.grpc_url()),
        (Protocol::Http, server.http_url()),
    ]
}

fn embedder(protocol: Protocol, url: &str) -> OipSettings {
    let mut settings = settings(url, protocol, "embedder");
    settings.contract.embedding = Some(EmbeddingTensors::default());
    settings
}

fn llm() -> OipSettings {
    let mut settings = settings(&MlServer::shared().http_url(), Protocol::Http, "llm");
    settings.generate = Some(Generate {
        dialect: Dialect::Infer,
        input: "text_input".to_owned(),
        output: "text_output".to_owned(),
    });
    settings
}

#[tokio::test]
async fn the_conformance_suite_passes_over_grpc_and_rest() {
    for (protocol, url) in both() {
        let backend = OipBackend::connect(embedder(protocol, &url)).await.unwrap();
        omnigate_backend::conformance::check(&backend, "embedder")
            .await
            .unwrap_or_else(|e| panic!("{protocol:?} embedder: {e}"));
        let backend = OipBackend::connect(settings(&url, protocol, "iris"))
            .await
            .unwrap();
        omnigate_backend::conformance::check(&backend, "iris")
            .await
            .unwrap_or_else(|e| panic!("{protocol:?} iris: {e}"));
    }
    let backend = OipBackend::connect(llm()).await.unwrap();
    omnigate_backend::conformance::check(&backend, "llm")
        .await
        .unwrap_or_else(|e| panic!("llm: {e}"));
}

#[tokio::test]
async fn embeddings_are_the_servers_vectors() {
    let texts = ["hello", "omnigate speaks v2", "ü"];
    for (protocol, url) in both() {
        let backend = OipBackend::connect(embedder(protocol, &url)).await.unwrap();
        let request = EmbeddingsRequest {
            model: "embedder".to_owned(),
            input: EmbeddingInput::Text(texts.map(str::to_owned).to_vec()),
            dimensions: None,
            extra: Default::default(),
        };
        let answer = backend
            .embeddings(request)
            .await
            .unwrap()
            .into_built()
            .unwrap();
        for (item, text) in answer.data.iter().zip(texts) {
            assert_eq!(
                item.embedding.floats().unwrap(),
                hash_vector(text),
                "{protocol:?} {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_scikit_learn_model_predicts_over_both_protocols() {
    // The first and last flowers of the iris data: setosa (0) and virginica (2).
    let flowers = [5.1f64, 3.5, 1.4, 0.2, 5.9, 3.0, 5.1, 1.8];
    let data: Vec<u8> = flowers.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (protocol, url) in both() {
        let backend = OipBackend::connect(settings(&url, protocol, "iris"))
            .await
            .unwrap();
        let signature = backend.signature().await.unwrap();
        assert_eq!(signature.inputs[0].name, "measurements");
        assert_eq!(signature.inputs[0].shape, [-1, 4]);
        let request = InferRequest {
            model: "iris".to_owned(),
            id: Some("flowers".to_owned()),
            inputs: vec![Tensor {
                name: "measurements".to_owned(),
                datatype: Datatype::Fp64,
                shape: vec![2, 4],
                data: data.clone().into(),
            }],
            ..InferRequest::default()
        };
        let answer = backend.infer(request).await.unwrap();
        let predict = answer.outputs.iter().find(|t| t.name == "predict").unwrap();
        assert_eq!(predict.datatype, Datatype::Int64, "{protocol:?}");
        assert_eq!(predict.to_f64s().unwrap(), [0.0, 2.0], "{protocol:?}");
        assert_eq!(answer.id.as_deref(), Some("flowers"), "{protocol:?}");
    }
}

#[tokio::test]
async fn chat_goes_through_the_generate_extension() {
    let backend = OipBackend::connect(llm()).await.unwrap();
    let request = ChatRequest {
        model: "llm".to_owned(),
        messages: vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Hi there"),
        ],
        params: Default::default(),
    };
    let answer = backend
        .chat(request.clone())
        .await
        .unwrap()
        .into_built()
        .unwrap();
    let text = answer.choices[0].message.content.clone().unwrap();
    assert_eq!(text, "Hello from MLServer, you said: Hi there");
    let mut streamed = String::new();
    let mut stream = backend.chat_stream(request).await.unwrap();
    while let Some(chunk) = stream.next().await {
        if let Answer::Built(chunk) = chunk.unwrap() {
            for choice in chunk.choices {
                streamed.push_str(choice.delta.content.as_deref().unwrap_or_default());
            }
        }
    }
    assert_eq!(
        streamed.trim_end(),
        text,
        "the stream spells the same answer"
    );
}

#[tokio::test]
async fn a_model_that_does_not_fit_the_config_is_refused_naming_the_key() {
    let url = MlServer::shared().grpc_url();
    let mut settings = settings(&url, Protocol::Grpc, "image-stats");
    settings.contract.media_inputs = vec![MediaInput {
        name: "pixel_values".to_owned(),
        key: "models.m.inputs.pixel_values".to_owned(),
        datatype: Datatype::Fp32,
        shape: vec![3, 256, 256],
        shape_key: "models.m.image.tensor_size".to_owned(),
    }];
    let key = |result: Result<OipBackend, ConnectError>| match result {
        Err(ConnectError::Mismatch(m)) => (m.key, m.message),
        Err(other) => panic!("expected a mismatch, got {other}"),
        Ok(_) => panic!("expected a mismatch, got a backend"),
    };
    let (k, message) = key(OipBackend::connect(settings.clone()).await);
    assert_eq!(k, "models.m.image.tensor_size");
    assert!(message.contains("[-1, 3, 224, 224]"), "{message}");
    settings.contract.media_inputs[0].shape = vec![3, 224, 224];
    settings.contract.media_inputs[0].datatype = Datatype::Fp16;
    let (k, _) = key(OipBackend::connect(settings.clone()).await);
    assert_eq!(k, "models.m.inputs.pixel_values.datatype");
    settings.contract.media_inputs[0].datatype = Datatype::Fp32;
    OipBackend::connect(settings.clone()).await.unwrap();

    settings.endpoint.model = "no-such-model".to_owned();
    let (k, _) = key(OipBackend::connect(settings).await);
    assert_eq!(k, "models.m.deployments[0].model");
    let mut texts = embedder(Protocol::Http, &MlServer::shared().http_url());
    texts.contract.embedding = Some(EmbeddingTensors {
        input: Some("words".to_owned()),
        output: None,
    });
    let (k, message) = key(OipBackend::connect(texts).await);
    assert_eq!(k, "models.m.deployments[0].embedding_input");
    assert!(message.contains("`text` (BYTES [-1])"), "{message}");
}

#[tokio::test]
async fn a_server_that_is_not_there_starts_unhealthy_and_answers_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for protocol in [Protocol::Grpc, Protocol::Http] {
        let url = format!("http://127.0.0.1:{port}");
        let backend = OipBackend::connect(settings(&url, protocol, "iris"))
            .await
            .unwrap();
        let health = backend.health().await;
        assert!(
            matches!(health, Err(BackendError::Unavailable(_))),
            "{protocol:?}: {health:?}"
        );
        let answer = backend
            .infer(InferRequest {
                model: "iris".to_owned(),
                ..InferRequest::default()
            })
            .await;
        assert!(
            matches!(answer, Err(BackendError::Unavailable(_))),
            "{protocol:?}: {answer:?}"
        );
    }
}
