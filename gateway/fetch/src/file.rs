//! `file:` URLs, confined to the policy's root directory and capped in size.
//!
//! Two gates: a lexical one (`..` resolved on the path text, without touching the
//! file system, so a client cannot probe which files exist outside the root) and a
//! canonical one (symlinks resolved, so a link inside the root cannot point out).
//! The root itself is operator-controlled; swapping links inside it between the
//! check and the open is out of scope.

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncReadExt as _;
use url::Url;

use crate::FetchPolicy;
use crate::error::FetchError;

/// Reads the file a `file:` URL names, if it lies under `policy.file_root`.
pub(crate) async fn read(url: &Url, policy: &FetchPolicy) -> Result<Bytes, FetchError> {
    let root = policy
        .file_root
        .as_deref()
        .ok_or_else(|| FetchError::SchemeNotAllowed {
            scheme: "file".into(),
        })?;
    // Percent-decoded; refuses hosts other than empty/`localhost`.
    let requested = url.to_file_path().map_err(|()| FetchError::InvalidUrl {
        reason: "file: URL must name an absolute local path".into(),
    })?;
    let requested = normalize_lexically(&requested);

    let root_canonical = tokio::fs::canonicalize(root).await.map_err(|e| {
        tracing::error!(root = %root.display(), error = %e, "media file_root is unusable");
        FetchError::Init
    })?;
    let root_lexical = std::path::absolute(root)
        .map(|r| normalize_lexically(&r))
        .unwrap_or_else(|_| root_canonical.clone());
    // Accept either spelling of the root: the configured one may itself be a link.
    if !requested.starts_with(&root_lexical) && !requested.starts_with(&root_canonical) {
        return Err(FetchError::PathNotAllowed);
    }

    let canonical = tokio::fs::canonicalize(&requested)
        .await
        .map_err(|_| FetchError::NotFound)?;
    if !canonical.starts_with(&root_canonical) {
        return Err(FetchError::PathNotAllowed);
    }

    // Metadata before opening: opening a FIFO or device could block or never end.
    let metadata = tokio::fs::metadata(&canonical)
        .await
        .map_err(|_| FetchError::NotFound)?;
    if !metadata.is_file() {
        return Err(FetchError::NotFound);
    }
    let too_large = FetchError::TooLarge {
        limit: policy.max_bytes,
    };
    let limit = u64::try_from(policy.max_bytes).unwrap_or(u64::MAX);
    if metadata.len() > limit {
        return Err(too_large);
    }

    let file = tokio::fs::File::open(&canonical)
        .await
        .map_err(|_| FetchError::NotFound)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    // One byte past the cap detects a file that grew after the metadata check.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| {
            tracing::debug!(error = %e, "reading media file failed");
            FetchError::Io
        })?;
    if bytes.len() > policy.max_bytes {
        return Err(too_large);
    }
    Ok(Bytes::from(bytes))
}

/// Resolves `.` and `..` textually; `..` at the root stays at the root, as the
/// kernel does.
fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_normalization() {
        let n = |p: &str| normalize_lexically(Path::new(p));
        assert_eq!(n("/a/b/../c/./d"), PathBuf::from("/a/c/d"));
        assert_eq!(n("/../../etc"), PathBuf::from("/etc"));
        assert_eq!(
            n("/root/media/../../etc/passwd"),
            PathBuf::from("/etc/passwd")
        );
        assert!(!n("/srv/media/../media-evil/x").starts_with("/srv/media"));
    }
}
