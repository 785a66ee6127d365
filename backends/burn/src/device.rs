//! Where an embedded model runs: burn's CPU backend (always built) or a GPU through burn's
//! `cuda` or `wgpu` backends (cargo features of this crate and of the gateway).

use std::fmt;

use burn::tensor::Device;
use omnigate_backend::BackendError;

/// The compute device of one embedded deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ComputeDevice {
    /// burn's pure-Rust CPU backend (`flex`), with the host kernels of `omnigate-cpu-ops`.
    #[default]
    Cpu,
    /// An NVIDIA GPU by index, through CUDA (needs the `cuda` feature and the NVIDIA driver).
    Cuda(usize),
    /// The best GPU wgpu finds (Vulkan, Metal or DirectX; needs the `wgpu` feature).
    Wgpu,
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(index) => write!(f, "cuda:{index}"),
            Self::Wgpu => f.write_str("wgpu"),
        }
    }
}

impl ComputeDevice {
    /// Whether this build of omnigate can run models on this device. The answer for a GPU is
    /// about the build only: whether the machine has one shows when the model loads.
    pub fn check_built(self) -> Result<(), String> {
        let (built, feature) = match self {
            Self::Cpu => (true, ""),
            Self::Cuda(_) => (cfg!(feature = "cuda"), "cuda"),
            Self::Wgpu => (cfg!(feature = "wgpu"), "wgpu"),
        };
        if built {
            Ok(())
        } else {
            Err(format!(
                "device \"{self}\" needs a build with GPU support: \
                 `cargo build --release -p omnigate --features {feature}`"
            ))
        }
    }

    /// burn's handle on the device. GPU devices are opened lazily by burn: a machine without
    /// one fails when the model's weights are first placed there, which the batcher reports
    /// as a load error.
    pub fn open(self) -> Result<Device, BackendError> {
        self.check_built().map_err(BackendError::Unavailable)?;
        match self {
            #[cfg(feature = "cuda")]
            Self::Cuda(index) => Ok(Device::cuda(index)),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            _ => Ok(Device::flex()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let names = [
            ComputeDevice::Cpu,
            ComputeDevice::Cuda(3),
            ComputeDevice::Wgpu,
        ]
        .map(|d| d.to_string());
        assert_eq!(names, ["cpu", "cuda:3", "wgpu"]);
    }

    #[test]
    fn the_cpu_always_opens_on_burns_cpu_backend() {
        let device = ComputeDevice::Cpu.open().unwrap();
        assert!(device == Device::flex());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_gpu_missing_from_the_build_names_the_feature() {
        let error = ComputeDevice::Cuda(0).check_built().unwrap_err();
        assert!(error.contains("--features cuda"), "{error}");
        assert!(matches!(
            ComputeDevice::Cuda(1).open(),
            Err(BackendError::Unavailable(_))
        ));
    }
}
