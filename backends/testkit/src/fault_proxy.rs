//! A raw TCP proxy on its own loopback port, in front of any address (a [`FakeUpstream`], say),
//! for the faults that live below HTTP: refused connections, connections reset before or after
//! some bytes of the answer, black holes that accept and never answer, and servers that die
//! with requests in flight. Tests switch faults on and off at any time; a switch applies to the
//! connections accepted after it, except [`FaultProxy::kill_live`], which hits the open ones.
//!
//! [`FakeUpstream`]: crate::FakeUpstream

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[cfg(test)]
mod tests;

/// What the proxy does with the connections it accepts.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Splice the connection to the target.
    Forward,
    /// Forward the request, at most this many bytes of the response, then reset.
    ResetAfter(usize),
    /// Read and discard, never connect to the target, never answer.
    Blackhole,
}

struct Shared {
    addr: SocketAddr,
    target: SocketAddr,
    fault: Mutex<Fault>,
    /// The accept loop; `None` while refusing.
    listener: Mutex<Option<JoinHandle<()>>>,
    accepted: AtomicUsize,
    open: AtomicUsize,
    /// Bumped by [`FaultProxy::kill_live`]: every connection open then resets.
    kill: watch::Sender<u64>,
}

/// A running fault-injecting TCP proxy. Dropping it closes its port and resets the connections
/// still open through it.
pub struct FaultProxy {
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts on `127.0.0.1:0`, forwarding every connection to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            addr,
            target,
            fault: Mutex::new(Fault::Forward),
            listener: Mutex::new(None),
            accepted: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            kill: watch::Sender::new(0),
        });
        let accepting = tokio::spawn(accept_loop(listener, shared.clone()));
        *shared.listener.lock().unwrap() = Some(accepting);
        Self { shared }
    }

    /// `127.0.0.1:PORT`, the proxy's own address (the same across [`Self::refuse`] and
    /// [`Self::recover`]).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT/v1`, as [`crate::FakeUpstream::base_url`].
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.shared.addr)
    }

    /// The address it forwards to.
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    /// Stops listening: new connections are refused (open ones go on). The port stays reserved
    /// in this proxy's name, and [`Self::recover`] listens on it again.
    pub async fn refuse(&self) {
        let accepting = self.shared.listener.lock().unwrap().take();
        if let Some(accepting) = accepting {
            accepting.abort();
            // Once the aborted task is gone, so is its listener: the port refuses from here on.
            let _ = accepting.await;
        }
    }

    /// New connections get the request through to the target, then at most `n` bytes of its
    /// response, then a reset (RST). `n = 0` resets once the target starts answering, before any
    /// response byte reaches the client.
    pub fn reset_after_bytes(&self, n: usize) {
        *self.shared.fault.lock().unwrap() = Fault::ResetAfter(n);
    }

    /// New connections are accepted and read, never answered (a hang before the response
    /// head); nothing reaches the target.
    pub fn blackhole(&self) {
        *self.shared.fault.lock().unwrap() = Fault::Blackhole;
    }

    /// Back to plain forwarding for new connections, listening again if refusing.
    pub async fn recover(&self) {
        *self.shared.fault.lock().unwrap() = Fault::Forward;
        if self.shared.listener.lock().unwrap().is_some() {
            return;
        }
        let listener = relisten(self.shared.addr).await;
        let accepting = tokio::spawn(accept_loop(listener, self.shared.clone()));
        *self.shared.listener.lock().unwrap() = Some(accepting);
    }

    /// Resets (RST) every connection open through the proxy now, whatever its fault: a server
    /// that dies with requests in flight. Later connections are not affected.
    pub fn kill_live(&self) {
        self.shared.kill.send_modify(|generation| *generation += 1);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections open through the proxy now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(accepting) = self.shared.listener.lock().unwrap().take() {
            accepting.abort();
        }
        self.kill_live();
    }
}

/// A listening socket with `SO_REUSEADDR`, so a refused port can be bound again at once.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Listens on `addr` again, retrying briefly should the port still be busy.
async fn relisten(addr: SocketAddr) -> TcpListener {
    let mut tries = 0;
    loop {
        match listen(addr) {
            Ok(listener) => return listener,
            Err(_) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("the fault proxy cannot listen on {addr} again: {error}"),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors, say: let it pass rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Taken at accept time: a switch applies to later connections, a kill to this one.
        let fault = *shared.fault.lock().unwrap();
        let kill = shared.kill.subscribe();
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        shared.open.fetch_add(1, Ordering::SeqCst);
        let target = shared.target;
        let open = OpenGuard(shared.clone());
        tokio::spawn(async move {
            let _open = open;
            serve(client, fault, kill, target).await;
        });
    }
}

/// Counts a connection as open until its task ends.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a connection's service ended.
enum End {
    /// Either side closed, or the client went away: close quietly.
    Closed,
    /// Reset the client's connection.
    Reset,
}

async fn serve(
    mut client: TcpStream,
    fault: Fault,
    mut kill: watch::Receiver<u64>,
    target: SocketAddr,
) {
    // Small writes go out at once: the bytes before a reset must not wait behind Nagle.
    let _ = client.set_nodelay(true);
    let killed = async move {
        // An error means the proxy is gone: that is a kill too.
        let _ = kill.changed().await;
    };
    tokio::pin!(killed);
    let end = match fault {
        Fault::Blackhole => tokio::select! {
            () = discard(&mut client) => End::Closed,
            () = &mut killed => End::Reset,
        },
        Fault::Forward | Fault::ResetAfter(_) => {
            let Ok(mut server) = TcpStream::connect(target).await else {
                // The target is down: so is this connection.
                reset(client);
                return;
            };
            let _ = server.set_nodelay(true);
            match fault {
                Fault::ResetAfter(limit) => tokio::select! {
                    () = forward_then_cut(&mut client, &mut server, limit) => End::Reset,
                    () = &mut killed => End::Reset,
                },
                _ => tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => End::Closed,
                    () = &mut killed => End::Reset,
                },
            }
        }
    };
    if let End::Reset = end {
        reset(client);
    }
}

/// Closes with an RST rather than a FIN (linger zero), discarding anything unsent.
fn reset(client: TcpStream) {
    let _ = client.set_zero_linger();
    drop(client);
}

/// Reads and drops whatever the client sends, until it closes.
async fn discard(client: &mut TcpStream) {
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(n) = client.read(&mut buffer).await {
        if n == 0 {
            return;
        }
    }
}

/// Forwards the request, then at most `limit` bytes of the response; returns when the client
/// should be reset (the limit reached, the target answering past it, or either side gone).
async fn forward_then_cut(client: &mut TcpStream, server: &mut TcpStream, limit: usize) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let upload = tokio::io::copy(&mut client_read, &mut server_write);
    let download = async {
        let mut sent = 0;
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(got) = server_read.read(&mut buffer).await {
            let take = got.min(limit - sent);
            if client_write.write_all(&buffer[..take]).await.is_err() {
                return;
            }
            sent += take;
            if got == 0 || sent >= limit {
                break;
            }
        }
        if sent > 0 {
            // Let the bytes leave before the reset, which would discard them if still unsent.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        () = download => {}
        _ = upload => {}
    }
}
