//! Sockets as tests need them: an address that refuses, a stream that
//! counts its own bytes, and reading until the peer closes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::wait::within;

/// A loopback address nothing listens on (its listener was bound, then
/// dropped): connections to it are refused, without the risk a fixed port
/// carries of someone listening there.
pub fn dead_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding 127.0.0.1:0")
        .local_addr()
        .expect("the address of a bound listener")
}

/// Bytes that went through a [`Counted`] stream, each way. Tests hold an
/// `Arc` of it to compare with what the other side says it counted.
#[derive(Debug, Default)]
pub struct Counts {
    /// Bytes read from the stream.
    pub read: AtomicU64,
    /// Bytes written to the stream.
    pub written: AtomicU64,
}

impl Counts {
    /// `(written, read)`: a client's view, to set against the server's
    /// `(received, sent)`.
    pub fn get(&self) -> (u64, u64) {
        (self.written.load(Relaxed), self.read.load(Relaxed))
    }
}

/// A stream that counts what goes through it, independently of any count
/// the code under test keeps (which is what the test checks).
pub struct Counted<S> {
    inner: S,
    /// What went through so far.
    pub counts: Arc<Counts>,
}

impl<S> Counted<S> {
    /// `inner`, counted from zero.
    pub fn new(inner: S) -> Counted<S> {
        Counted::sharing(inner, Arc::default())
    }

    /// `inner`, adding to `counts` (which the test already holds).
    pub fn sharing(inner: S, counts: Arc<Counts>) -> Counted<S> {
        Counted { inner, counts }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.counts
            .read
            .fetch_add((buf.filled().len() - before) as u64, Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.counts.written.fetch_add(n as u64, Relaxed);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Everything the peer writes until it closes `s` (or resets it: what came
/// before the reset is kept, unlike `read_to_end`). No deadline: wrap it in
/// [`within`](crate::within) or [`within_for`](crate::within_for), or use
/// [`read_to_close`].
pub async fn read_until_closed<S: AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut out = Vec::new();
    // On the heap: callers nest this in bounded waits, and every layer
    // would carry an array in the future's state.
    let mut buf = vec![0u8; 8192];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// [`read_until_closed`], panicking if the peer has not closed within
/// [`PATIENCE`](crate::PATIENCE).
pub async fn read_to_close<S: AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    within("the server to close the socket", read_until_closed(s)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_address_refuses() {
        let e = tokio::net::TcpStream::connect(dead_addr())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn counted_counts_both_ways_and_read_to_close_keeps_everything() {
        use tokio::io::AsyncWriteExt;
        let (a, mut b) = tokio::io::duplex(64);
        let mut a = Counted::new(a);
        a.write_all(b"hello").await.unwrap();
        b.write_all(b"hi").await.unwrap();
        drop(b);
        assert_eq!(read_to_close(&mut a).await, b"hi");
        assert_eq!(a.counts.get(), (5, 2));
    }
}
