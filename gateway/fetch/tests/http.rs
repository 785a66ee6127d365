//! `http:` fetching against a local axum server: caps, timeouts, statuses, and
//! the SSRF checks on direct URLs and on every redirect hop.
//!
//! Network rule for these tests: only 127.0.0.1 and [::1] are ever contacted.
//! Refusals are proven by the error variant and by "tripwire" listeners that count
//! every connection they accept.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use omnigate_fetch::{FetchError, FetchPolicy, Fetcher, Source};
use tokio::net::TcpListener;

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}

/// Starts the test server on 127.0.0.1; an error only if it cannot bind.
async fn start_server() -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route(
            "/hello",
            get(|| async { ([(header::CONTENT_TYPE, "Image/PNG; x=1")], "hello") }),
        )
        .route("/big", get(|| async { vec![b'x'; 1000] }))
        .route(
            "/endless",
            get(|| async {
                let chunk = Bytes::from(vec![b'z'; 8192]);
                Body::from_stream(futures::stream::repeat(Ok::<_, Infallible>(chunk)))
            }),
        )
        .route(
            "/trickle",
            get(|| async {
                let drip = futures::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((Ok::<_, Infallible>(Bytes::from_static(b".")), ()))
                });
                Body::from_stream(drip)
            }),
        )
        .route("/hang", get(std::future::pending::<()>))
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
            }),
        )
        .route(
            "/chain/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    redirect("/hello")
                } else {
                    redirect(&format!("/chain/{}", n - 1))
                }
            }),
        )
        .route(
            "/to",
            get(|Query(q): Query<HashMap<String, String>>| async move { redirect(&q["url"]) }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Serving ends only with the test's runtime; an accept error would surface
    // as a failed fetch in the test itself.
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// A listener that only counts the connections it accepts.
struct Tripwire {
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn tripwire(bind: &str) -> Option<Tripwire> {
    let listener = TcpListener::bind(bind).await.ok()?;
    let port = listener.local_addr().ok()?.port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    Some(Tripwire { port, hits })
}

fn trusting_loopback() -> FetchPolicy {
    FetchPolicy {
        allow_hosts: vec!["127.0.0.1".into()],
        timeout: Duration::from_secs(5),
        ..FetchPolicy::default()
    }
}

#[tokio::test]
async fn happy_path() {
    let addr = start_server().await.unwrap();
    let url = format!("http://{addr}/hello");
    let got = Fetcher::new()
        .unwrap()
        .fetch(&url, &trusting_loopback())
        .await
        .unwrap();
    assert_eq!(&got.bytes[..], b"hello");
    assert_eq!(got.media_type.as_deref(), Some("image/png"));
    assert_eq!(
        got.source,
        Source::Http {
            final_url: url.parse().unwrap()
        }
    );
}

#[tokio::test]
async fn content_length_over_cap_is_refused() {
    let addr = start_server().await.unwrap();
    let fetcher = Fetcher::new().unwrap();
    let capped = FetchPolicy {
        max_bytes: 999,
        ..trusting_loopback()
    };
    let err = fetcher
        .fetch(&format!("http://{addr}/big"), &capped)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 999 }),
        "{err:?}"
    );
    let exact = FetchPolicy {
        max_bytes: 1000,
        ..trusting_loopback()
    };
    let got = fetcher
        .fetch(&format!("http://{addr}/big"), &exact)
        .await
        .unwrap();
    assert_eq!(got.bytes.len(), 1000);
}

#[tokio::test]
async fn endless_stream_is_cut_at_the_cap() {
    let addr = start_server().await.unwrap();
    let policy = FetchPolicy {
        max_bytes: 100_000,
        ..trusting_loopback()
    };
    let err = Fetcher::new()
        .unwrap()
        .fetch(&format!("http://{addr}/endless"), &policy)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 100_000 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn trickle_and_hang_time_out() {
    let addr = start_server().await.unwrap();
    let fetcher = Fetcher::new().unwrap();
    let policy = FetchPolicy {
        timeout: Duration::from_millis(300),
        ..trusting_loopback()
    };
    for path in ["trickle", "hang"] {
        let err = fetcher
            .fetch(&format!("http://{addr}/{path}"), &policy)
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{path}: {err:?}");
    }
}

#[tokio::test]
async fn non_success_statuses() {
    let addr = start_server().await.unwrap();
    let fetcher = Fetcher::new().unwrap();
    for code in [404, 500, 304, 300, 204] {
        let result = fetcher
            .fetch(
                &format!("http://{addr}/status/{code}"),
                &trusting_loopback(),
            )
            .await;
        if code == 204 {
            assert!(result.unwrap().bytes.is_empty());
            continue;
        }
        let err = result.unwrap_err();
        assert!(
            matches!(err, FetchError::Status { code: c } if c == code),
            "{err:?}"
        );
    }
    // A redirect status without Location is just a status.
    let err = fetcher
        .fetch(&format!("http://{addr}/status/302"), &trusting_loopback())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Status { code: 302 }), "{err:?}");
}

#[tokio::test]
async fn redirect_chains() {
    let addr = start_server().await.unwrap();
    let fetcher = Fetcher::new().unwrap();
    // chain/2 -> chain/1 -> chain/0 -> hello: three redirects, the default limit.
    let got = fetcher
        .fetch(&format!("http://{addr}/chain/2"), &trusting_loopback())
        .await
        .unwrap();
    assert_eq!(&got.bytes[..], b"hello");
    let final_url = format!("http://{addr}/hello");
    assert_eq!(
        got.source,
        Source::Http {
            final_url: final_url.parse().unwrap()
        }
    );
    // One more is too many.
    let err = fetcher
        .fetch(&format!("http://{addr}/chain/3"), &trusting_loopback())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooManyRedirects { max: 3 }),
        "{err:?}"
    );
    let none = FetchPolicy {
        max_redirects: 0,
        ..trusting_loopback()
    };
    let err = fetcher
        .fetch(&format!("http://{addr}/chain/0"), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::TooManyRedirects { max: 0 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn redirects_to_internal_addresses_are_refused_before_connecting() {
    let addr = start_server().await.unwrap();
    let fetcher = Fetcher::new().unwrap();
    let v4 = tripwire("127.0.0.1:0").await.unwrap();
    let v6 = tripwire("[::1]:0").await;
    let mut targets = vec![
        "http://10.0.0.1/x".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        format!("http://[::1]:{}/", v4.port),
        format!("http://localhost:{}/", v4.port),
        format!("http://127.0.0.2:{}/", v4.port),
        format!("http://[::ffff:127.0.0.1]:{}/", v4.port),
    ];
    if let Some(v6) = &v6 {
        targets.push(format!("http://[::1]:{}/", v6.port));
        targets.push(format!("http://localhost:{}/", v6.port));
    }
    for target in &targets {
        let url = format!("http://{addr}/to?url={}", urlencode(target));
        let err = fetcher.fetch(&url, &trusting_loopback()).await.unwrap_err();
        assert!(
            matches!(err, FetchError::AddressNotAllowed { .. }),
            "{target}: {err:?}"
        );
    }
    // Redirects may not switch to other schemes either.
    for target in ["file:///etc/passwd", "data:,hi", "ftp://127.0.0.1/"] {
        let url = format!("http://{addr}/to?url={}", urlencode(target));
        let err = fetcher.fetch(&url, &trusting_loopback()).await.unwrap_err();
        assert!(
            matches!(err, FetchError::SchemeNotAllowed { .. }),
            "{target}: {err:?}"
        );
    }
    assert_eq!(v4.hits.load(Ordering::SeqCst), 0);
    assert_eq!(v6.map_or(0, |t| t.hits.load(Ordering::SeqCst)), 0);
}

#[tokio::test]
async fn internal_addresses_are_refused_without_allow_list() {
    let fetcher = Fetcher::new().unwrap();
    let trip = tripwire("127.0.0.1:0").await.unwrap();
    let port = trip.port;
    let policy = FetchPolicy {
        timeout: Duration::from_secs(5),
        ..FetchPolicy::default()
    };
    for url in [
        format!("http://127.0.0.1:{port}/x"),
        format!("http://localhost:{port}/x"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        "http://[::1]/x".to_owned(),
        "http://10.1.2.3/x".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "https://169.254.169.254/".to_owned(),
        "http://[fd00::1]/".to_owned(),
    ] {
        let err = fetcher.fetch(&url, &policy).await.unwrap_err();
        assert!(
            matches!(err, FetchError::AddressNotAllowed { .. }),
            "{url}: {err:?}"
        );
        assert!(!err.to_string().contains("127.0.0.1:"), "{err}");
    }
    assert_eq!(trip.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn connect_failure_to_trusted_host_is_a_gateway_error() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Fetcher::new()
        .unwrap()
        .fetch(&format!("http://{closed}/x"), &trusting_loopback())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Connect { trusted: true, .. }),
        "{err:?}"
    );
    assert_eq!(err.status_code(), 502);
}

#[tokio::test]
async fn plain_http_can_be_disabled() {
    let addr = start_server().await.unwrap();
    let policy = FetchPolicy {
        allow_http: false,
        ..trusting_loopback()
    };
    let err = Fetcher::new()
        .unwrap()
        .fetch(&format!("http://{addr}/hello"), &policy)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::SchemeNotAllowed { ref scheme } if scheme == "http"),
        "{err:?}"
    );
}

/// Query-component escaping for the handful of characters the targets use.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
