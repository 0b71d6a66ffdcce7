//! Small known-good (and known-bad) servers for the generator to measure.

#![allow(dead_code)]

pub mod engineio;
pub mod http_hub;
pub mod ws_relay;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pushpoll_loadgen::LoadOpts;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A loopback address nothing listens on (its listener was bound, then
/// dropped): connections to it are refused.
pub fn dead_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Builds options the way `pushpoll load` would parse them.
pub fn opts(args: &[&str]) -> LoadOpts {
    use clap::Parser as _;
    let mut v = vec!["pushpoll-load"];
    v.extend_from_slice(args);
    LoadOpts::try_parse_from(v).expect("valid test options")
}

/// A future that never resolves: no Ctrl-C.
pub async fn never() {
    std::future::pending::<()>().await
}

/// Polls `cond` every few ms for at most `limit`; true when it held.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// Bytes a server read from and wrote to one connection.
#[derive(Debug, Default)]
pub struct ByteCount {
    pub read: AtomicU64,
    pub written: AtomicU64,
}

/// The server side's own counting stream (independent of the generator's).
pub struct Counting<S> {
    pub inner: S,
    pub count: Arc<ByteCount>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.count
            .read
            .fetch_add((buf.filled().len() - before) as u64, Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.count.written.fetch_add(n as u64, Relaxed);
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
