//! Reading the tensors of `silero_vad_16k.safetensors`, each checked against the v5 16 kHz
//! layout before the model rearranges it.

use std::path::{Path, PathBuf};

use burn::store::{ModuleStore, SafetensorsStore, bridge};
use burn::tensor::{Device, Tensor, TensorData};

use crate::VadError;

/// An open weights file that hands out tensors by name as plain `f32` values.
pub(crate) struct WeightsFile {
    path: PathBuf,
    store: SafetensorsStore,
}

impl WeightsFile {
    /// Opens `path`; burn-store reads lazily, so a missing file is reported here as such.
    pub(crate) fn open(path: &Path) -> Result<Self, VadError> {
        std::fs::File::open(path).map_err(|source| VadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            store: SafetensorsStore::from_file(path),
        })
    }

    /// The values of tensor `name` (row-major), which must have exactly the shape `expected`.
    pub(crate) fn read(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>, VadError> {
        let path = &self.path;
        let weights_error = |message: String| VadError::Weights {
            path: path.clone(),
            tensor: name.to_owned(),
            message,
        };
        let tensor = self
            .store
            .get_tensor(name)
            .map_err(|e| weights_error(e.to_string()))?
            .ok_or_else(|| VadError::MissingTensor {
                path: path.clone(),
                tensor: name.to_owned(),
            })?;
        let found: Vec<usize> = tensor.shape.iter().copied().collect();
        if found != expected {
            return Err(VadError::TensorShape {
                path: path.clone(),
                tensor: name.to_owned(),
                expected: expected.to_vec(),
                found,
            });
        }
        bridge::to_data(tensor)
            .map_err(|e| weights_error(e.to_string()))?
            // Casts a half-precision export to f32 too.
            .try_into_vec_as::<f32>()
            .map_err(|e| weights_error(format!("{e:?}")))
    }

    /// Tensor `name` of shape `shape`, uploaded to `device` as is.
    pub(crate) fn tensor<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        device: &Device,
    ) -> Result<Tensor<D>, VadError> {
        let values = self.read(name, &shape)?;
        Ok(upload(values, shape, device))
    }
}

/// Row-major `values` of shape `shape` as a float tensor on `device`.
pub(crate) fn upload<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let Err(error) = WeightsFile::open(Path::new("/nonexistent/silero.safetensors")) else {
            panic!("opening a missing file succeeded");
        };
        assert!(matches!(error, VadError::Io { .. }));
        assert!(
            error
                .to_string()
                .contains("/nonexistent/silero.safetensors")
        );
    }
}
