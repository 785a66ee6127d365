//! The one error type of media fetching, with messages safe to show an API client.
//!
//! Every message names at most the URL's own host (which the client supplied):
//! resolved addresses, local paths and lower-level error chains are kept out of
//! `Display` so a hostile client cannot use the gateway as an oracle for the
//! internal network or file system. Fields such as `addr` stay available for logs.

use std::net::IpAddr;
use std::time::Duration;

/// Why a media URL could not be fetched.
///
/// Suggested mapping to an HTTP status for the API response
/// ([`FetchError::status_code`]): everything that follows from the URL the client
/// sent is `400 Bad Request`, except [`FetchError::TooLarge`] (`413`); failures
/// to reach a host the operator put on the allow list are `502 Bad Gateway`;
/// [`FetchError::Init`] is `500`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL could not be parsed or lacks a part it needs (e.g. a host).
    #[error("invalid media URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// The scheme is unknown or disabled by the policy (e.g. `file`, plain `http`).
    #[error("media URL scheme `{scheme}` is not allowed")]
    SchemeNotAllowed {
        /// The refused scheme, lowercased.
        scheme: String,
    },
    /// The host is, or resolves to, an address that is not public (loopback,
    /// private, link-local, ...). Nothing was sent to it.
    #[error("media URL host `{host}` is not allowed: it does not resolve to a public address")]
    AddressNotAllowed {
        /// The host as written in the URL.
        host: String,
        /// The first refused address; for logs only, never shown to the client.
        addr: IpAddr,
    },
    /// The `file:` path lies outside the configured root.
    #[error("media file path is not allowed")]
    PathNotAllowed,
    /// The `file:` path does not exist under the root or is not a regular file.
    #[error("media file not found")]
    NotFound,
    /// The content is larger than the policy allows.
    #[error("media is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The byte limit that was exceeded.
        limit: usize,
    },
    /// The whole fetch (all redirects and the body) did not finish in time.
    #[error("fetching the media URL timed out after {} ms", after.as_millis())]
    Timeout {
        /// The time limit that ran out.
        after: Duration,
    },
    /// The server redirected more often than the policy allows.
    #[error("media URL redirected more than {max} times")]
    TooManyRedirects {
        /// The redirect limit.
        max: u8,
    },
    /// The server answered with a status other than 2xx (or a 3xx without a
    /// usable `Location`).
    #[error("media URL answered with HTTP status {code}")]
    Status {
        /// The HTTP status code.
        code: u16,
    },
    /// A `data:` URL whose payload cannot be decoded.
    #[error("invalid data: URL: {reason}")]
    InvalidData {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The connection to the host failed (refused, TLS error, reset, ...).
    #[error("could not connect to media URL host `{host}`")]
    Connect {
        /// The host as written in the URL.
        host: String,
        /// Whether the host is on the operator's allow list (then the failure
        /// is the gateway's problem, not the client's).
        trusted: bool,
    },
    /// Reading the body or the file failed part-way.
    #[error("reading the media failed")]
    Io,
    /// The HTTP client could not be built (TLS roots, ...); a server fault.
    #[error("media fetcher could not be initialised")]
    Init,
    /// A worker of the gateway failed while handling the media (a server fault).
    #[error("the media could not be read (an internal failure)")]
    Internal {
        /// What failed; for logs only.
        reason: String,
    },
}

impl FetchError {
    /// The HTTP status this error should surface as in an API response.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            Self::Connect { trusted: true, .. } => 502,
            Self::Init | Self::Internal { .. } => 500,
            _ => 400,
        }
    }

    /// Whether the client's request caused the error (a 4xx), as opposed to
    /// a fault of the gateway or its trusted infrastructure (a 5xx).
    pub fn is_client_error(&self) -> bool {
        self.status_code() < 500
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_error_does_not_show_the_resolved_address() {
        let e = FetchError::AddressNotAllowed {
            host: "evil.example".into(),
            addr: "10.9.8.7".parse().unwrap(),
        };
        let msg = e.to_string();
        assert!(msg.contains("evil.example"), "{msg}");
        assert!(!msg.contains("10.9.8.7"), "{msg}");
        assert!(e.is_client_error());
    }

    #[test]
    fn status_mapping() {
        assert_eq!(FetchError::TooLarge { limit: 1 }.status_code(), 413);
        assert_eq!(FetchError::Status { code: 404 }.status_code(), 400);
        let trusted = FetchError::Connect {
            host: "store".into(),
            trusted: true,
        };
        assert_eq!(trusted.status_code(), 502);
        assert!(!trusted.is_client_error());
        let untrusted = FetchError::Connect {
            host: "x".into(),
            trusted: false,
        };
        assert_eq!(untrusted.status_code(), 400);
        assert_eq!(FetchError::Init.status_code(), 500);
    }
}
