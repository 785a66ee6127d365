//! The overhead benchmark's floor: a TCP relay that copies bytes between each client connection
//! and its own connection to the upstream, and does nothing else (no HTTP parsing, no routing,
//! no auth). Run in omnigate's place (same core, one thread), it shows how much latency any proxy
//! adds on a machine just by being a second process on a second core, so the gateway's own share
//! can be told apart from the machine's (on a VM, the halted vCPU's wake-ups).

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

/// Serves until the listener fails: each accepted connection gets a fresh upstream connection
/// and the two are spliced until either side closes.
pub async fn serve(listener: TcpListener, upstream: SocketAddr) -> std::io::Result<()> {
    loop {
        let (mut client, _) = listener.accept().await?;
        tokio::spawn(async move {
            // Same socket options as the gateway's: small writes go out at once.
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            if client.set_nodelay(true).is_err() || server.set_nodelay(true).is_err() {
                return;
            }
            // The outcome does not matter: either side closing ends the splice.
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_cross_both_ways_unchanged() {
        // An echo server standing in for the upstream.
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.unwrap();
            let mut buffer = vec![0u8; 1024];
            loop {
                let n = socket.read(&mut buffer).await.unwrap();
                if n == 0 {
                    return;
                }
                socket.write_all(&buffer[..n]).await.unwrap();
            }
        });
        let relay = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay_addr = relay.local_addr().unwrap();
        tokio::spawn(serve(relay, echo_addr));

        let mut client = TcpStream::connect(relay_addr).await.unwrap();
        for message in [&b"hello"[..], b"through the relay", &[0u8, 255, 10, 13]] {
            client.write_all(message).await.unwrap();
            let mut back = vec![0u8; message.len()];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(back, message);
        }
    }
}
