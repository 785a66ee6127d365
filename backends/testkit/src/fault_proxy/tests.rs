//! The fault proxy in front of a fake upstream, driven by `reqwest` over loopback: each fault
//! shows up to the client as the error it stands for, and `recover` brings answers back on the
//! same port. Every test runs under `bounded`; waits assert "at least", never "at most".

use super::FaultProxy;
use crate::FakeUpstream;
use crate::faults::tests::{Call, bounded, call};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A fake upstream with a proxy in front of it.
async fn pair() -> (FakeUpstream, FaultProxy) {
    let fake = FakeUpstream::start().await;
    let proxy = FaultProxy::start(fake.addr()).await;
    (fake, proxy)
}

/// A client that opens a fresh connection for every request.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Whether the client's error comes from a TCP reset (somewhere down its chain of causes).
fn is_reset(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionReset
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The length of the response head the fake sends for a chat request (with `stream`), read
/// with a raw HTTP/1.1 exchange; its `date` header has a fixed width.
async fn chat_head_len(fake: &FakeUpstream, stream: bool) -> usize {
    let body = format!(
        r#"{{"model":"m","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        fake.addr(),
        body.len()
    );
    let mut socket = TcpStream::connect(fake.addr()).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            return end + 4;
        }
        let n = socket.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the fake closed before its head ended");
        got.extend_from_slice(&buffer[..n]);
    }
}

#[tokio::test]
async fn forwards_every_endpoint_by_default() {
    bounded(async {
        let (fake, proxy) = pair().await;
        assert_eq!(proxy.target(), fake.addr());
        assert_eq!(proxy.base_url(), format!("http://{}/v1", proxy.addr()));
        let client = unpooled();
        for endpoint in [
            Call::Chat,
            Call::ChatStream,
            Call::Embeddings,
            Call::Models,
            Call::Transcription,
        ] {
            let response = call(&client, &proxy.base_url(), endpoint).await.unwrap();
            assert_eq!(response.status(), 200, "{endpoint:?}");
            response.bytes().await.unwrap();
        }
        assert_eq!(fake.request_count(), 5);
        assert_eq!(proxy.connections(), 5);
        // Each connection closes once its answer is read: none stays open for long.
        while proxy.open_connections() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn refuse_gives_connect_errors_and_recover_listens_on_the_same_port() {
    bounded(async {
        let (fake, proxy) = pair().await;
        let addr = proxy.addr();
        proxy.refuse().await;
        let client = unpooled();
        let error = call(&client, &proxy.base_url(), Call::Chat)
            .await
            .unwrap_err();
        assert!(error.is_connect(), "{error:?}");
        assert!(TcpStream::connect(addr).await.is_err());
        assert_eq!(fake.request_count(), 0);

        proxy.recover().await;
        assert_eq!(proxy.addr(), addr);
        let response = call(&client, &proxy.base_url(), Call::Chat).await.unwrap();
        assert_eq!(response.status(), 200);
        // Refusing and recovering again works as well.
        proxy.refuse().await;
        assert!(
            call(&client, &proxy.base_url(), Call::Embeddings)
                .await
                .is_err()
        );
        proxy.recover().await;
        let response = call(&client, &proxy.base_url(), Call::Embeddings)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(fake.request_count(), 2);
    })
    .await;
}

#[tokio::test]
async fn reset_before_the_first_byte_is_an_error_not_a_hang() {
    bounded(async {
        let (fake, proxy) = pair().await;
        proxy.reset_after_bytes(0);
        let client = unpooled();
        for (tries, endpoint) in [Call::Chat, Call::ChatStream, Call::Transcription]
            .into_iter()
            .enumerate()
        {
            let error = call(&client, &proxy.base_url(), endpoint)
                .await
                .unwrap_err();
            assert!(is_reset(&error), "{endpoint:?}: {error:?}");
            // The request got through: the deployment saw the try.
            assert_eq!(fake.request_count(), tries + 1);
        }
        proxy.recover().await;
        let response = call(&client, &proxy.base_url(), Call::Chat).await.unwrap();
        assert_eq!(response.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn reset_after_the_head_fails_the_body_read() {
    bounded(async {
        let (fake, proxy) = pair().await;
        let client = unpooled();
        // A plain answer: the head and a few bytes of its JSON, then the reset.
        proxy.reset_after_bytes(chat_head_len(&fake, false).await + 10);
        let response = call(&client, &proxy.base_url(), Call::Chat).await.unwrap();
        assert_eq!(response.status(), 200);
        let error = response.bytes().await.unwrap_err();
        assert!(is_reset(&error), "{error:?}");

        // A stream: the head and part of its first event, then the reset.
        proxy.reset_after_bytes(chat_head_len(&fake, true).await + 20);
        let mut response = call(&client, &proxy.base_url(), Call::ChatStream)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut got = Vec::new();
        let error = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => got.extend_from_slice(&chunk),
                Ok(None) => panic!("the stream ended cleanly after {got:?}"),
                Err(error) => break error,
            }
        };
        assert!(is_reset(&error), "{error:?}");
        assert!(
            !got.ends_with(b"\n\n"),
            "a whole event came through: {got:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn blackhole_hangs_until_the_client_times_out() {
    bounded(async {
        let (fake, proxy) = pair().await;
        proxy.blackhole();
        let timeout = Duration::from_millis(300);
        let client = reqwest::Client::builder().timeout(timeout).build().unwrap();
        let started = Instant::now();
        let error = call(&client, &proxy.base_url(), Call::Chat)
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        assert!(started.elapsed() >= timeout);
        assert_eq!(fake.request_count(), 0);
        assert_eq!(proxy.connections(), 1);

        proxy.recover().await;
        let response = call(&unpooled(), &proxy.base_url(), Call::Chat)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(fake.request_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn kill_live_resets_an_open_stream_and_spares_later_connections() {
    bounded(async {
        let (fake, proxy) = pair().await;
        // The stream sends its first events, then waits: it is in flight when the proxy dies.
        fake.hold_streams_after(1);
        let client = unpooled();
        let mut response = call(&client, &proxy.base_url(), Call::ChatStream)
            .await
            .unwrap();
        assert!(response.chunk().await.unwrap().is_some());
        assert_eq!(proxy.open_connections(), 1);
        proxy.kill_live();
        let error = loop {
            match response.chunk().await {
                Ok(Some(_)) => {} // events already on their way
                Ok(None) => panic!("the killed stream ended cleanly"),
                Err(error) => break error,
            }
        };
        assert!(is_reset(&error), "{error:?}");
        assert!(fake.wait_for_cancel(Duration::from_secs(20)).await);

        fake.release_stream();
        let response = call(&client, &proxy.base_url(), Call::ChatStream)
            .await
            .unwrap();
        assert!(response.text().await.unwrap().ends_with("data: [DONE]\n\n"));
        assert_eq!(proxy.connections(), 2);
    })
    .await;
}

#[tokio::test]
async fn faults_apply_to_new_connections_only() {
    bounded(async {
        let (fake, proxy) = pair().await;
        fake.hold_streams_after(1);
        // Opened while forwarding, this stream is unaffected by the black hole that follows.
        let client = unpooled();
        let mut open = call(&client, &proxy.base_url(), Call::ChatStream)
            .await
            .unwrap();
        assert!(open.chunk().await.unwrap().is_some());
        proxy.blackhole();
        let quick = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let error = call(&quick, &proxy.base_url(), Call::Chat)
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        fake.release_stream();
        let mut rest = Vec::new();
        while let Some(chunk) = open.chunk().await.unwrap() {
            rest.extend_from_slice(&chunk);
        }
        assert!(rest.ends_with(b"data: [DONE]\n\n"));
    })
    .await;
}
