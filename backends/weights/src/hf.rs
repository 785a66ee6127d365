//! Weights from the Hugging Face hub (for users with internet): each needed file is fetched from
//! `<endpoint>/<repo>/resolve/<revision>/<file>` into the cache, once.

use std::path::{Path, PathBuf};

use crate::download::download;
use crate::{Fetcher, WeightsError};

impl Fetcher {
    /// The cached repository folder holding every `needed` file, fetching the absent ones.
    pub(crate) async fn hf(
        &self,
        repo: &str,
        revision: &str,
        needed: &[PathBuf],
    ) -> Result<PathBuf, WeightsError> {
        let dir = crate::cache::hf_dir_in(&self.cache, repo, revision);
        for rel in needed {
            let target = dir.join(rel);
            // Files appear by rename after a complete download, so existing means whole.
            if target.is_file() {
                continue;
            }
            let url = format!(
                "{}/{repo}/resolve/{revision}/{}",
                self.hf_endpoint.trim_end_matches('/'),
                rel.to_string_lossy().replace('\\', "/")
            );
            let parent = target.parent().unwrap_or(&dir);
            std::fs::create_dir_all(parent).map_err(WeightsError::io(parent))?;
            let part = part_path(&target);
            let label = format!("{repo}/{}", rel.display());
            let got = download(&self.client, &url, self.hf_token.as_deref(), &part, &label).await;
            if let Err(e) = got {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
            std::fs::rename(&part, &target).map_err(WeightsError::io(&target))?;
        }
        Ok(dir)
    }
}

fn part_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.part", std::process::id()));
    target.with_file_name(name)
}

/// Checks a hub repository id: `org/name`, no path tricks.
pub(crate) fn check_repo(repo: &str) -> Result<(), WeightsError> {
    let parts: Vec<&str> = repo.split('/').collect();
    let ok = parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if ok {
        Ok(())
    } else {
        Err(WeightsError::InvalidSource(format!(
            "hf = {repo:?}: write it as \"org/name\""
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_are_org_slash_name() {
        assert!(check_repo("sentence-transformers/all-MiniLM-L6-v2").is_ok());
        for bad in ["noslash", "a/b/c", "../x", "a/..", "a /b"] {
            assert!(check_repo(bad).is_err(), "{bad}");
        }
    }
}
