//! DNS resolver for the untrusted-URL client: resolve once, check, pin.
//!
//! reqwest connects to exactly the addresses this resolver returns, so checking
//! them here leaves no window for DNS rebinding (a name that answers with a public
//! address for the check and a private one for the connection).

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::ip;

/// A name resolved to an address the policy forbids; travels through reqwest's
/// error chain and is recognised by [`find_refusal`].
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) addr: IpAddr,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "resolved to non-public address {}", self.addr)
    }
}

impl std::error::Error for Refused {}

/// System resolver that fails the lookup when ANY answer is non-public: a name
/// with one public and one private record could otherwise reach the private one
/// through connection fallback.
#[derive(Debug, Default)]
pub(crate) struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: hyper substitutes the URL's port.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| !ip::is_public(a.ip())) {
                tracing::debug!(%host, addr = %bad.ip(), "refusing non-public DNS answer");
                return Err(Box::new(Refused { addr: bad.ip() }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Finds a [`Refused`] anywhere in an error's source chain.
pub(crate) fn find_refusal(err: &(dyn std::error::Error + 'static)) -> Option<IpAddr> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.addr);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn localhost_is_refused() {
        let name: Name = "localhost".parse().unwrap();
        let err = PublicOnly.resolve(name).await.err().unwrap();
        let addr = find_refusal(err.as_ref()).unwrap();
        assert!(addr.is_loopback(), "{addr}");
    }

    #[test]
    fn refusal_is_found_through_wrappers() {
        #[derive(Debug)]
        struct Wrapper(Refused);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapper")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let addr: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(find_refusal(&Wrapper(Refused { addr })), Some(addr));
        assert_eq!(find_refusal(&std::fmt::Error), None);
    }
}
