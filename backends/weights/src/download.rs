//! One HTTP download into a file: streamed, size-capped, hashed on the way, with progress.

use std::path::Path;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::WeightsError;

/// No model file omnigate loads is anywhere near this; a server streaming more is broken or hostile.
const MAX_DOWNLOAD_BYTES: u64 = 8 << 30;

/// What a finished download was.
pub(crate) struct Downloaded {
    /// Lowercase hex sha256 of the bytes written.
    pub sha256: String,
}

/// Streams `url` into `dest` (created or truncated), showing a progress bar on a terminal and
/// logging start and end either way. `label` names the file for people.
pub(crate) async fn download(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    dest: &Path,
    label: &str,
) -> Result<Downloaded, WeightsError> {
    let fail = |message: String| WeightsError::Download {
        url: url.to_owned(),
        message,
    };
    let mut request = client.get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let total = response.content_length();
    if total.is_some_and(|t| t > MAX_DOWNLOAD_BYTES) {
        return Err(fail(format!(
            "{} bytes is over the limit",
            total.unwrap_or(0)
        )));
    }
    tracing::info!(
        file = label,
        url,
        megabytes = total.map(|t| t as f64 / 1e6),
        "downloading model weights (once; cached afterwards)"
    );
    let progress = progress_bar(total, label);

    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(WeightsError::io(dest))?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| fail(e.to_string()))?;
        bytes += chunk.len() as u64;
        if bytes > MAX_DOWNLOAD_BYTES {
            return Err(fail("the body is over the size limit".into()));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(WeightsError::io(dest))?;
        progress.set_position(bytes);
    }
    file.flush().await.map_err(WeightsError::io(dest))?;
    file.sync_all().await.map_err(WeightsError::io(dest))?;
    progress.finish_and_clear();
    if total.is_some_and(|t| t != bytes) {
        return Err(fail(format!(
            "connection closed after {bytes} of {} bytes",
            total.unwrap_or(0)
        )));
    }
    tracing::info!(file = label, megabytes = bytes as f64 / 1e6, "downloaded");
    Ok(Downloaded {
        sha256: hex(&hasher.finalize()),
    })
}

fn progress_bar(total: Option<u64>, label: &str) -> ProgressBar {
    // indicatif draws only on a terminal; logs above cover servers and CI.
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(label.to_owned());
    bar
}

/// Lowercase hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
