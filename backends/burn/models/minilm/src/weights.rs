//! Loading the pretrained weights from `model.safetensors`.

use std::path::Path;

use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};

use crate::MiniLmError;
use crate::bert::BertModel;

/// Fills `model` with the tensors of a Hugging Face `BertModel` safetensors file.
///
/// The file's keys are the `BertModel` state dict without a `bert.` prefix
/// (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`, …).
/// A `bert.` prefix, as a `BertFor*` checkpoint would have, is stripped too. Every module
/// parameter must be found with the right shape; tensors the encoder does not use (the
/// pooler, `position_ids`) are ignored.
pub(crate) fn load_weights(model: &mut BertModel, path: &Path) -> Result<(), MiniLmError> {
    if !path.is_file() {
        return Err(MiniLmError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let mut store = SafetensorsStore::from_file(path)
        .with_key_remapping(r"^bert\.", "")
        // `self` is a keyword and `LayerNorm` is not snake case: the two names the Rust
        // modules spell differently from PyTorch.
        .with_key_remapping(r"\.self\.", ".self_attention.")
        .with_key_remapping(r"\.LayerNorm\.", ".layer_norm.")
        // PyTorch Linear weights are [out, in] and LayerNorm calls its parameters
        // weight/bias; burn wants [in, out] and gamma/beta.
        .with_from_adapter(PyTorchToBurnAdapter);
    model
        .load_from(&mut store)
        .map_err(|e| MiniLmError::Weights {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    Ok(())
}
