//! `http(s):` fetching: per-hop policy checks, manual redirects, capped streaming.
//!
//! Two clients with separate connection pools: `untrusted` resolves through
//! [`PublicOnly`] and is used for every host not on the allow list; `trusted`
//! uses the system resolver and serves only allow-listed hosts. Keeping the pools
//! apart means a connection opened to an allow-listed private address can never
//! be reused for a request whose policy does not allow it.

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::{Host, Url};

use crate::error::FetchError;
use crate::resolve::{PublicOnly, find_refusal};
use crate::{FetchPolicy, Fetched, Source, data_url, ip};

/// Largest buffer reserved up front from a server's `Content-Length` claim.
const MAX_PREALLOCATION: usize = 1024 * 1024;

/// The two HTTP clients (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    untrusted: reqwest::Client,
    trusted: reqwest::Client,
}

impl Clients {
    pub(crate) fn new() -> Result<Self, FetchError> {
        Ok(Self {
            untrusted: build(true)?,
            trusted: build(false)?,
        })
    }
}

fn build(public_only: bool) -> Result<reqwest::Client, FetchError> {
    let mut builder = reqwest::Client::builder()
        // Redirects are followed by hand so every hop is checked.
        .redirect(reqwest::redirect::Policy::none())
        // A proxy resolves and connects on its own, past every check here.
        .no_proxy()
        .user_agent(concat!("omnigate-fetch/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(30));
    if public_only {
        builder = builder.dns_resolver(PublicOnly);
    }
    builder.build().map_err(|e| {
        tracing::error!(error = %e, "building the media fetch HTTP client failed");
        FetchError::Init
    })
}

/// Fetches an `http(s)` URL, following up to `policy.max_redirects` redirects.
pub(crate) async fn fetch(
    clients: &Clients,
    mut url: Url,
    policy: &FetchPolicy,
) -> Result<Fetched, FetchError> {
    let mut redirects: u8 = 0;
    loop {
        let hop = check(&url, policy)?;
        let client = if hop.trusted {
            &clients.trusted
        } else {
            &clients.untrusted
        };
        let response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| send_error(&e, hop))?;
        let status = response.status();
        if is_redirect(status) {
            let Some(next) = redirect_target(&response, &url)? else {
                return Err(FetchError::Status {
                    code: status.as_u16(),
                });
            };
            if redirects >= policy.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    max: policy.max_redirects,
                });
            }
            redirects += 1;
            tracing::debug!(from = %url, to = %next, "following media redirect");
            // Checked (scheme, address) at the top of the next iteration,
            // before anything is sent.
            url = next;
            continue;
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                code: status.as_u16(),
            });
        }
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(data_url::essence);
        let bytes = read_capped(response, policy.max_bytes).await?;
        return Ok(Fetched {
            bytes,
            media_type,
            source: Source::Http { final_url: url },
        });
    }
}

/// What [`check`] learned about one hop.
#[derive(Clone, Copy)]
struct Hop<'a> {
    host: &'a str,
    trusted: bool,
}

/// Scheme and address policy for one hop, applied before it is sent. Domain
/// names of untrusted hosts are checked by the resolver; IP literals never reach
/// a resolver (hyper connects to them directly), so they are checked here.
fn check<'a>(url: &'a Url, policy: &FetchPolicy) -> Result<Hop<'a>, FetchError> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        // Also catches redirects to `file:`, `data:`, and https→http downgrades.
        other => {
            return Err(FetchError::SchemeNotAllowed {
                scheme: other.to_owned(),
            });
        }
    }
    let (Some(host), Some(host_str)) = (url.host(), url.host_str()) else {
        return Err(FetchError::InvalidUrl {
            reason: "URL has no host".into(),
        });
    };
    let trusted = policy.is_trusted_host(host_str);
    if !trusted {
        let literal = match host {
            Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            Host::Domain(_) => None,
        };
        if let Some(addr) = literal.filter(|a| !ip::is_public(*a)) {
            return Err(FetchError::AddressNotAllowed {
                host: host_str.to_owned(),
                addr,
            });
        }
    }
    Ok(Hop {
        host: host_str,
        trusted,
    })
}

fn send_error(err: &reqwest::Error, hop: Hop<'_>) -> FetchError {
    if let Some(addr) = find_refusal(err) {
        return FetchError::AddressNotAllowed {
            host: hop.host.to_owned(),
            addr,
        };
    }
    tracing::debug!(host = hop.host, error = %err, "media fetch connection failed");
    FetchError::Connect {
        host: hop.host.to_owned(),
        trusted: hop.trusted,
    }
}

/// The redirect statuses that carry a `Location` to follow (not 300/304).
fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The absolute next URL, `None` when there is no `Location` header.
fn redirect_target(response: &reqwest::Response, base: &Url) -> Result<Option<Url>, FetchError> {
    let Some(location) = response.headers().get(LOCATION) else {
        return Ok(None);
    };
    let invalid = || FetchError::InvalidUrl {
        reason: "redirect to an invalid URL".into(),
    };
    let location = location.to_str().map_err(|_| invalid())?;
    base.join(location).map(Some).map_err(|_| invalid())
}

/// Reads the body, refusing a declared length over `max` before reading and
/// aborting a streamed body as soon as it passes `max`.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Bytes, FetchError> {
    let too_large = FetchError::TooLarge { limit: max };
    let declared = response.content_length();
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large);
    }
    let reserve = declared
        .and_then(|len| usize::try_from(len).ok())
        .unwrap_or(0)
        .min(MAX_PREALLOCATION);
    let mut body = BytesMut::with_capacity(reserve);
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        tracing::debug!(error = %e, "reading media body failed");
        FetchError::Io
    })? {
        if chunk.len() > max - body.len() {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(url: &str, policy: &FetchPolicy) -> Result<bool, FetchError> {
        let url = Url::parse(url).unwrap();
        check(&url, policy).map(|hop| hop.trusted)
    }

    #[test]
    fn literal_addresses_in_every_spelling_are_checked() {
        let policy = FetchPolicy::default();
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.0.1./",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://0/",
            "http://169.254.169.254/latest/meta-data",
            "https://[fe80::1]/",
        ] {
            let err = checked(url, &policy).unwrap_err();
            assert!(
                matches!(err, FetchError::AddressNotAllowed { .. }),
                "{url}: {err:?}"
            );
        }
        assert!(!checked("https://8.8.8.8/", &policy).unwrap());
        assert!(!checked("https://example.com/", &policy).unwrap());
    }

    #[test]
    fn schemes_per_policy() {
        let https_only = FetchPolicy {
            allow_http: false,
            ..FetchPolicy::default()
        };
        assert!(matches!(
            checked("http://8.8.8.8/", &https_only),
            Err(FetchError::SchemeNotAllowed { scheme }) if scheme == "http"
        ));
        assert!(checked("https://8.8.8.8/", &https_only).is_ok());
        assert!(matches!(
            checked("file:///etc/passwd", &FetchPolicy::default()),
            Err(FetchError::SchemeNotAllowed { .. })
        ));
    }

    #[test]
    fn allow_listed_literals_are_trusted() {
        let policy = FetchPolicy {
            allow_hosts: vec!["10.0.0.5".into()],
            ..FetchPolicy::default()
        };
        assert!(checked("http://10.0.0.5:8080/x", &policy).unwrap());
        assert!(checked("http://10.0.0.6/x", &policy).is_err());
    }
}
