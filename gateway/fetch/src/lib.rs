//! Fetches the bytes behind a media URL from an untrusted API request, safely.
//!
//! Supported: `data:` URLs, `http(s):` with SSRF protection (non-public addresses
//! refused, DNS answers pinned, redirects re-checked on every hop), and `file:`
//! under an operator-configured root. Every fetch is capped in size and time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), omnigate_fetch::FetchError> {
//! let fetcher = omnigate_fetch::Fetcher::new()?;
//! let media = fetcher
//!     .fetch("https://example.com/cat.png", &omnigate_fetch::FetchPolicy::default())
//!     .await?;
//! println!("{} bytes, {:?}", media.bytes.len(), media.media_type);
//! # Ok(()) }
//! ```

mod data_url;
mod error;
mod file;
mod http;
mod ip;
mod resolve;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use error::FetchError;

/// What a single fetch may do. Build it from config; `Default` is a safe start.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Largest body accepted, in bytes (decoded bytes for `data:` URLs).
    pub max_bytes: usize,
    /// Limit for the whole fetch: every redirect hop plus reading the body.
    pub timeout: Duration,
    /// How many redirects are followed before giving up.
    pub max_redirects: u8,
    /// Trusted hosts exempt from the public-address check: an exact host
    /// (`media.internal`, `10.0.0.5`, `::1`) or `*.suffix` for any subdomain of
    /// `suffix` (not `suffix` itself, never an IP address). ASCII/punycode only.
    pub allow_hosts: Vec<String>,
    /// `file:` URLs are refused unless set; then only files under this
    /// directory (after resolving `..` and symlinks) may be read.
    pub file_root: Option<PathBuf>,
    /// Whether plain `http:` is accepted (also governs https→http redirects).
    pub allow_http: bool,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            max_redirects: 3,
            allow_hosts: Vec::new(),
            file_root: None,
            allow_http: true,
        }
    }
}

impl FetchPolicy {
    /// Whether `host` (as `Url::host_str` gives it) is on the allow list.
    fn is_trusted_host(&self, host: &str) -> bool {
        let host = normalize_host(host);
        let host_is_ip = host.parse::<IpAddr>().is_ok();
        self.allow_hosts.iter().any(|pattern| {
            let pattern = normalize_host(pattern);
            match pattern.strip_prefix("*.") {
                // Label boundary required: `*.example.com` must not match `evilexample.com`.
                Some(suffix) => {
                    !host_is_ip
                        && !suffix.is_empty()
                        && host
                            .strip_suffix(suffix)
                            .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
                }
                None => host == pattern,
            }
        })
    }
}

/// Lowercase, without IPv6 brackets or a trailing root dot.
fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// Base64 text up to this long is decoded in place, longer text on tokio's blocking pool: ~64 µs
/// of work, about what handing it over costs; tens of MB take milliseconds the async executor
/// should spend serving other requests.
const INLINE_DECODE_MAX_CHARS: usize = 64 * 1024;

/// Runs `decode` (over `len` characters of text) in place, or on the blocking pool when large.
async fn decode_off_executor<T: Send + 'static>(
    len: usize,
    decode: impl FnOnce() -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    if len <= INLINE_DECODE_MAX_CHARS {
        return decode();
    }
    tokio::task::spawn_blocking(decode)
        .await
        .unwrap_or_else(|join| {
            Err(FetchError::Internal {
                reason: format!("base64 decoding stopped: {join}"),
            })
        })
}

/// Decodes base64 media sent inline rather than as a `data:` URL (OpenAI's `input_audio.data`),
/// by the same rules and under the same cap discipline as a `data:` URL's payload: percent-escapes
/// and whitespace tolerated, padding optional, text too long for `max_bytes` refused before
/// decoding, large text decoded off the async executor.
pub async fn decode_base64(text: String, max_bytes: usize) -> Result<bytes::Bytes, FetchError> {
    decode_off_executor(text.len(), move || {
        data_url::decode_base64(&text, max_bytes).map(bytes::Bytes::from)
    })
    .await
}

/// A `data:` URL's bytes (`rest` is what follows `data:`), under `max_bytes`.
fn decode_data(rest: &str, max_bytes: usize) -> Result<Fetched, FetchError> {
    let (bytes, media_type) = data_url::decode(rest, max_bytes)?;
    Ok(Fetched {
        bytes,
        media_type,
        source: Source::Data,
    })
}

/// Trims a URL as the URL parser does and splits off its scheme.
fn split_scheme(url: &str) -> Result<(&str, &str), FetchError> {
    url.trim_matches(|c: char| c <= ' ')
        .split_once(':')
        .filter(|(s, _)| is_scheme(s))
        .ok_or_else(|| FetchError::InvalidUrl {
            reason: "missing or malformed scheme".into(),
        })
}

/// The fetched media.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The content, at most `max_bytes` long.
    pub bytes: bytes::Bytes,
    /// Lowercase `type/subtype` from the `data:` URL or the `Content-Type`
    /// header. Client-controlled: a hint only, sniff the bytes before trusting it.
    pub media_type: Option<String>,
    /// Where the bytes came from.
    pub source: Source,
}

/// Where [`Fetched`] bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An inline `data:` URL.
    Data,
    /// An `http(s):` URL.
    Http {
        /// The URL after following redirects.
        final_url: url::Url,
    },
    /// A `file:` URL under the policy's file root.
    File,
}

/// Fetches media URLs; create one and share it (it holds connection pools).
#[derive(Debug, Clone)]
pub struct Fetcher {
    clients: http::Clients,
}

impl Fetcher {
    /// Builds the HTTP clients (TLS roots, pinned DNS resolver).
    pub fn new() -> Result<Self, FetchError> {
        Ok(Self {
            clients: http::Clients::new()?,
        })
    }

    /// Fetches `url` under `policy`; the whole call ends within `policy.timeout`. The URL is
    /// taken owned so that a large `data:` URL can be decoded on the blocking pool.
    pub async fn fetch(
        &self,
        url: impl Into<String>,
        policy: &FetchPolicy,
    ) -> Result<Fetched, FetchError> {
        tokio::time::timeout(policy.timeout, self.fetch_unbounded(url.into(), policy))
            .await
            .unwrap_or(Err(FetchError::Timeout {
                after: policy.timeout,
            }))
    }

    async fn fetch_unbounded(
        &self,
        owned: String,
        policy: &FetchPolicy,
    ) -> Result<Fetched, FetchError> {
        // Same leading/trailing trimming the URL parser applies.
        let url = owned.trim_matches(|c: char| c <= ' ');
        let (scheme, _) = split_scheme(url)?;
        match scheme.to_ascii_lowercase().as_str() {
            // Parsed by hand: the URL parser would copy (and re-escape) a payload
            // that may be megabytes long.
            "data" => {
                let max_bytes = policy.max_bytes;
                decode_off_executor(owned.len(), move || {
                    let (_, rest) = split_scheme(&owned)?;
                    decode_data(rest, max_bytes)
                })
                .await
            }
            "http" | "https" => http::fetch(&self.clients, parse(url)?, policy).await,
            "file" => {
                let bytes = file::read(&parse(url)?, policy).await?;
                Ok(Fetched {
                    bytes,
                    media_type: None,
                    source: Source::File,
                })
            }
            other => Err(FetchError::SchemeNotAllowed {
                scheme: other.to_owned(),
            }),
        }
    }
}

/// RFC 3986 scheme syntax, length-capped so it is safe to echo in errors.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= 32
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn parse(url: &str) -> Result<url::Url, FetchError> {
    url::Url::parse(url).map_err(|e| FetchError::InvalidUrl {
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str]) -> FetchPolicy {
        FetchPolicy {
            allow_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..FetchPolicy::default()
        }
    }

    #[test]
    fn exact_hosts() {
        let p = policy(&["Media.Internal", "127.0.0.1", "::1", "[fd00::5]"]);
        assert!(p.is_trusted_host("media.internal"));
        assert!(p.is_trusted_host("media.internal."));
        assert!(p.is_trusted_host("127.0.0.1"));
        assert!(p.is_trusted_host("[::1]"));
        assert!(p.is_trusted_host("[fd00::5]"));
        assert!(!p.is_trusted_host("sub.media.internal"));
        assert!(!p.is_trusted_host("127.0.0.2"));
        assert!(!p.is_trusted_host("localhost"));
    }

    #[test]
    fn wildcard_hosts() {
        let p = policy(&["*.cdn.example", "*.0.0.1", "*."]);
        assert!(p.is_trusted_host("a.cdn.example"));
        assert!(p.is_trusted_host("a.b.cdn.example"));
        assert!(!p.is_trusted_host("cdn.example"));
        assert!(!p.is_trusted_host("evilcdn.example"));
        assert!(!p.is_trusted_host(".cdn.example"));
        // Wildcards never match IP addresses, and an empty suffix matches nothing.
        assert!(!p.is_trusted_host("127.0.0.1"));
        assert!(!p.is_trusted_host("anything"));
    }

    #[test]
    fn no_hosts_trusts_nothing() {
        assert!(!FetchPolicy::default().is_trusted_host("127.0.0.1"));
    }

    #[test]
    fn scheme_syntax() {
        assert!(is_scheme("https"));
        assert!(is_scheme("git+ssh"));
        assert!(!is_scheme(""));
        assert!(!is_scheme("1http"));
        assert!(!is_scheme("a b"));
        assert!(!is_scheme(&"a".repeat(33)));
    }
}
