//! Upstream connections counted as they open and close. hyper-util's pool says nothing about
//! itself (how many connections it holds, idle or busy), so the connector it dials through
//! keeps the count: one increment per connection opened, one decrement when hyper drops it.
//! Reads and writes pass straight through; a request on a pooled connection costs nothing more.

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use omnigate_backend::Connections;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// The counts one deployment's pool shares with its connections.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    open: AtomicU64,
    opened: AtomicU64,
}

impl Counts {
    /// The counts now.
    pub(crate) fn snapshot(&self) -> Connections {
        Connections {
            open: self.open.load(Ordering::Relaxed),
            opened: self.opened.load(Ordering::Relaxed),
        }
    }
}

/// A connector whose connections are counted in [`Counts`].
#[derive(Debug, Clone)]
pub(crate) struct Counting<C> {
    inner: C,
    counts: Arc<Counts>,
}

impl<C> Counting<C> {
    /// Counts the connections `inner` makes in `counts`.
    pub(crate) fn new(inner: C, counts: Arc<Counts>) -> Self {
        Self { inner, counts }
    }
}

impl<C, U> tower_service::Service<U> for Counting<C>
where
    C: tower_service::Service<U>,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
{
    type Response = Counted<C::Response>;
    type Error = C::Error;
    // Boxed once per connection opened, never per request.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, destination: U) -> Self::Future {
        let connecting = self.inner.call(destination);
        let counts = Arc::clone(&self.counts);
        Box::pin(async move {
            let io = connecting.await?;
            counts.opened.fetch_add(1, Ordering::Relaxed);
            counts.open.fetch_add(1, Ordering::Relaxed);
            Ok(Counted { io, counts })
        })
    }
}

/// A connection that counts itself closed when dropped.
#[derive(Debug)]
pub(crate) struct Counted<T> {
    io: T,
    counts: Arc<Counts>,
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        self.counts.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T: Read + Unpin> Read for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    // hyper writes a head and its body with one `writev` when the connection says it can.
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

impl<T: Connection> Connection for Counted<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}
