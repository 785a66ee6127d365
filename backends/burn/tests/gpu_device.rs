//! The embedded models on a wgpu device give the CPU backend's answers.
//!
//! Built only with the `wgpu` feature (`cargo test -p omnigate-backend-burn --features wgpu
//! --test gpu_device`). It needs a Vulkan, Metal or DirectX adapter; on a machine without a
//! GPU, Mesa's software Vulkan driver (Debian: `mesa-vulkan-drivers`) serves. On a GPU these
//! run burn's kernels where the CPU runs omnigate-cpu-ops' host ones, so they check that path.
#![cfg(feature = "wgpu")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use omnigate_backend::{
    Answer, Audio, Backend, EmbeddingInput, EmbeddingVector, EmbeddingsRequest,
    TranscriptionRequest,
};
use omnigate_backend_burn::{
    Architecture, BatchLimits, ComputeDevice, EmbeddedBackend, EmbeddedSettings,
};
use omnigate_weights::{FetchSettings, Fetcher};

/// The architecture's files (and its companion's), from the cache `.ci/fetch-models` fills.
async fn settings(architecture: Architecture, device: ComputeDevice) -> EmbeddedSettings {
    let fetcher = Fetcher::new(FetchSettings::default()).unwrap();
    let dir = |arch: Architecture| {
        let fetcher = &fetcher;
        async move {
            fetcher
                .ensure(&arch.default_source().unwrap(), arch.files())
                .await
                .unwrap()
        }
    };
    let companion_dir = match architecture.companion() {
        Some(companion) => Some(dir(companion).await),
        None => None,
    };
    EmbeddedSettings {
        architecture,
        model_dir: dir(architecture).await,
        limits: BatchLimits::default(),
        companion_dir,
        device,
    }
}

async fn start(architecture: Architecture, device: ComputeDevice) -> EmbeddedBackend {
    EmbeddedBackend::start("gpu-test", settings(architecture, device).await)
        .await
        .unwrap_or_else(|e| panic!("{architecture} on {device}: {e}"))
}

async fn embed(backend: &EmbeddedBackend, texts: &[&str]) -> Vec<Vec<f32>> {
    let request = EmbeddingsRequest {
        model: "gpu-test".into(),
        input: EmbeddingInput::Text(texts.iter().map(|t| (*t).to_owned()).collect()),
        dimensions: None,
        extra: Default::default(),
    };
    let response = backend
        .embeddings(request)
        .await
        .and_then(Answer::into_built)
        .unwrap();
    response
        .data
        .into_iter()
        .map(|item| match item.embedding {
            EmbeddingVector::Float(values) => values,
            other => panic!("expected floats, got {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn minilm_embeddings_match_the_cpu() {
    let texts = [
        "A man is eating food.",
        "The new movie is awesome, and the popcorn was stale.",
        "omnigate",
    ];
    let cpu = embed(
        &start(Architecture::MiniLm, ComputeDevice::Cpu).await,
        &texts,
    )
    .await;
    let gpu = embed(
        &start(Architecture::MiniLm, ComputeDevice::Wgpu).await,
        &texts,
    )
    .await;
    for (a, b) in cpu.iter().zip(&gpu) {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "largest difference {diff}");
    }
}

/// beckett.wav from the Moonshine wheel, decoded by the gateway's own audio pipeline.
fn beckett() -> Audio {
    let path = omnigate_weights::pypi_dir("useful-moonshine-onnx", "20251121")
        .join("moonshine_onnx/assets/beckett.wav");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let policy = omnigate_media::AudioPolicy::default();
    omnigate_media::normalize_audio(&bytes, Some("wav"), &policy)
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread")]
async fn whisper_hears_what_it_hears_on_the_cpu() {
    let request = || TranscriptionRequest {
        model: "gpu-test".into(),
        audio: beckett(),
        language: None,
        prompt: None,
        temperature: None,
        translate: false,
    };
    let cpu = start(Architecture::Whisper, ComputeDevice::Cpu).await;
    let gpu = start(Architecture::Whisper, ComputeDevice::Wgpu).await;
    let expected = cpu.transcribe(request()).await.unwrap().text;
    let heard = gpu.transcribe(request()).await.unwrap().text;
    assert!(expected.contains("Ever tried"), "{expected}");
    assert_eq!(heard, expected);
}
