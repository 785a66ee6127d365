//! Open Inference Protocol v2 servers behind the gateway, end to end: a real MLServer (the
//! testkit's, on free loopback ports) serving deterministic models over gRPC and REST, and the
//! gateway in front. A JPEG sent as a data URL must arrive as exactly the tensor the model's
//! contract declares (the server's model reports what it received); embeddings, chat and
//! tensor inference are answered by the server; bad tensors are refused naming the input; a
//! server that goes away and comes back is handled as any backend is.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod media;
mod outages;

use omnigate::Server;
use omnigate_testkit::MlServer;
use omnigate_testkit::mlserver::hash_vector;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::OnceLock;

/// A gateway from `toml`, on a thread of its own that serves until the test process exits.
pub fn gateway(toml: &str) -> SocketAddr {
    let config = omnigate_config::load_str(toml, "test config").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(&config).await.unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            server.run(std::future::pending()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// A v2 deployment of `upstream` on the shared MLServer.
fn deployment(model: &str, upstream: &str, grpc: bool, extra: &str) -> String {
    let server = MlServer::shared();
    let (url, protocol) = if grpc {
        (server.grpc_url(), "grpc")
    } else {
        (server.http_url(), "http")
    };
    format!(
        "[[models.{model}.deployments]]\nkind = \"oip\"\nurl = \"{url}\"\nprotocol = \"{protocol}\"\nmodel = \"{upstream}\"\n{extra}\n"
    )
}

/// The image contract of the `stats` models: a 224² tensor with its own mean and std.
pub const MEAN: [f32; 3] = [0.5, 0.4, 0.3];
/// See [`MEAN`].
pub const STD: [f32; 3] = [0.2, 0.25, 0.3];

/// A model reading pictures into `pixel_values` through `upstream`.
fn stats_model(name: &str, upstream: &str, grpc: bool, layout: &str) -> String {
    format!(
        "[models.{name}]\ntasks = [\"infer\"]\n[models.{name}.image]\noutput = \"tensor\"\ntensor_size = [224, 224]\nmean = {MEAN:?}\nstd = {STD:?}\n[models.{name}.inputs.pixel_values]\nmedia = \"image\"\nlayout = \"{layout}\"\n{}",
        deployment(name, upstream, grpc, "")
    )
}

/// The gateway every test but the outage ones shares.
pub fn shared() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let mut toml = "[server]\nbind = \"127.0.0.1:0\"\n".to_owned();
        toml += &stats_model("stats", "image-stats", true, "nchw");
        toml += &stats_model("stats-http", "image-stats", false, "nchw");
        toml += &stats_model("stats-nhwc", "image-stats-nhwc", true, "nhwc");
        // Pictures to /v1/embeddings: the per-channel means are the vector. Over gRPC the
        // input is found (the model's only input made from media), over REST it is named.
        for (name, grpc, input) in [
            ("picture-embed", true, ""),
            ("picture-embed-http", false, "embedding_input = \"pixel_values\"\n"),
        ] {
            toml += &format!("[models.{name}]\ntasks = [\"embeddings\"]\n[models.{name}.image]\noutput = \"tensor\"\ntensor_size = [224, 224]\nmean = {MEAN:?}\nstd = {STD:?}\n[models.{name}.inputs.pixel_values]\nmedia = \"image\"\n");
            let extra = format!("{input}embedding_output = \"channel_mean\"");
            toml += &deployment(name, "image-stats", grpc, &extra);
        }
        for (name, grpc) in [("sound", true), ("sound-http", false)] {
            toml += &format!("[models.{name}]\ntasks = [\"infer\"]\n[models.{name}.audio]\nsample_rate = 16000\n[models.{name}.inputs.waveform]\nmedia = \"audio\"\n");
            toml += &deployment(name, "audio-stats", grpc, "");
        }
        for (name, grpc) in [("embedder", true), ("embedder-http", false)] {
            toml += &format!("[models.{name}]\ntasks = [\"embeddings\", \"infer\"]\n");
            toml += &deployment(name, "embedder", grpc, "");
        }
        for (name, grpc) in [("iris", true), ("iris-http", false)] {
            toml += &format!("[models.{name}]\ntasks = [\"infer\"]\n");
            toml += &deployment(name, "iris", grpc, "");
        }
        toml += "[models.llm]\ntasks = [\"chat\"]\n";
        toml += &deployment("llm", "llm", false, "generate = \"infer\"");
        gateway(&toml)
    })
}

pub async fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
    (status, body)
}

/// The first and last flowers of the iris data: setosa (0) and virginica (2).
pub fn flowers() -> Value {
    json!({"name": "measurements", "datatype": "FP64", "shape": [2, 4],
           "data": [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 5.1, 1.8]]})
}

#[tokio::test]
async fn tensors_go_through_and_the_servers_answer_comes_back() {
    let addr = shared();
    for model in ["iris", "iris-http"] {
        let body = json!({"id": "req-1", "inputs": [flowers()]});
        let (status, answer) = post(addr, &format!("/v2/models/{model}/infer"), &body).await;
        assert_eq!(status, 200, "{model}: {answer}");
        assert_eq!(answer["model_name"], model);
        assert_eq!(answer["id"], "req-1");
        let predict = &answer["outputs"][0];
        assert_eq!(predict["name"], "predict");
        assert_eq!(predict["datatype"], "INT64");
        assert_eq!(predict["shape"], json!([2, 1]));
        assert_eq!(predict["data"], json!([0, 2]), "{model}");
    }
}

#[tokio::test]
async fn bad_tensors_are_refused_naming_the_input_before_anything_is_sent() {
    let addr = shared();
    let with = |patch: Value| {
        let mut input = flowers();
        for (k, v) in patch.as_object().unwrap() {
            input[k] = v.clone();
        }
        json!({"inputs": [input]})
    };
    let cases = [
        // The server's metadata says [-1, 4]: refused by the backend before it sends.
        (with(json!({"shape": [4, 2]})), "inputs[0].shape", "[-1, 4]"),
        (
            with(json!({"datatype": "FP32"})),
            "inputs[0].datatype",
            "takes FP64, not FP32",
        ),
        (
            with(json!({"name": "petals"})),
            "inputs[0].name",
            "`measurements` (FP64 [-1, 4])",
        ),
        // The gateway's own checks.
        (
            with(json!({"shape": [3, 4]})),
            "inputs[0].data",
            "holds 12 elements, `data` has 8",
        ),
        (
            with(json!({"datatype": "FLOAT"})),
            "inputs[0].datatype",
            "not a v2 datatype",
        ),
        (
            with(json!({"data": [[5.1, 3.5, 1.4, "x"], [5.9, 3.0, 5.1, 1.8]]})),
            "inputs[0].data",
            "element 3",
        ),
        (json!({"inputs": []}), "inputs", "1 to 64"),
    ];
    for model in ["iris", "iris-http"] {
        for (body, param, words) in &cases {
            let (status, answer) = post(addr, &format!("/v2/models/{model}/infer"), body).await;
            assert_eq!(status, 400, "{model} {body}: {answer}");
            assert_eq!(answer["error"]["param"], *param, "{model} {body}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(words), "{model}: {message}");
            if *param != "inputs" {
                assert!(
                    message.contains("inputs[0] (`"),
                    "the input is named: {message}"
                );
            }
        }
    }
    let media =
        json!({"inputs": [{"name": "measurements", "media": "data:image/png;base64,AAAA"}]});
    let (status, answer) = post(addr, "/v2/models/iris/infer", &media).await;
    assert_eq!(
        (status, answer["error"]["param"].as_str()),
        (400, Some("inputs[0].media")),
        "{answer}"
    );
    let (status, answer) = post(
        addr,
        "/v2/models/llm/infer",
        &json!({"inputs": [flowers()]}),
    )
    .await;
    assert_eq!(status, 422, "a model not declared for tensors: {answer}");
    let (status, _) = post(
        addr,
        "/v2/models/nope/infer",
        &json!({"inputs": [flowers()]}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn embeddings_are_the_servers_vectors_over_both_protocols() {
    let addr = shared();
    let texts = ["hello", "a v2 server behind omnigate"];
    for model in ["embedder", "embedder-http"] {
        let (status, answer) = post(
            addr,
            "/v1/embeddings",
            &json!({"model": model, "input": texts}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["model"], model);
        for (item, text) in answer["data"].as_array().unwrap().iter().zip(texts) {
            let got: Vec<f32> = item["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got, hash_vector(text), "{model}: {text}");
        }
        let body = json!({"model": model, "input": "hello", "encoding_format": "base64"});
        let (_, answer) = post(addr, "/v1/embeddings", &body).await;
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            answer["data"][0]["embedding"].as_str().unwrap(),
        )
        .unwrap();
        let floats: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(floats, hash_vector("hello"));
    }
}

#[tokio::test]
async fn chat_goes_through_the_generate_extension_plain_and_streamed() {
    let addr = shared();
    let messages = json!([{"role": "user", "content": "Hi from a test"}]);
    let (status, answer) = post(
        addr,
        "/v1/chat/completions",
        &json!({"model": "llm", "messages": messages}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(text, "Hello from MLServer, you said: Hi from a test");
    let body = json!({"model": "llm", "messages": messages, "stream": true});
    let (status, answer) = post(addr, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200);
    let events = answer["text"].as_str().unwrap();
    let mut streamed = String::new();
    for line in events.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let chunk: Value = serde_json::from_str(line).unwrap();
        streamed += chunk["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap_or_default();
    }
    assert!(events.trim_end().ends_with("data: [DONE]"), "{events}");
    assert_eq!(streamed.trim_end(), text);
}
