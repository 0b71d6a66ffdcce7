//! Counting at the socket: a stream wrapper that reports to a [`Counter`]
//! every byte the inner stream actually read or took, so headers,
//! handshakes, frames and TLS records are counted the same way whatever
//! speaks over it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where a [`Counted`] stream reports its bytes.
///
/// Takes `&self` because a counter is usually shared with whoever reads the
/// numbers while the stream is in use (atomics, or an `Arc` of them).
pub trait Counter {
    /// `n` bytes (never 0) were read from the stream.
    fn add_read(&self, n: u64);
    /// The stream took `n` bytes (never 0) for writing: what it accepted,
    /// not what it was offered.
    fn add_written(&self, n: u64);
}

impl<C: Counter + ?Sized> Counter for Arc<C> {
    fn add_read(&self, n: u64) {
        (**self).add_read(n);
    }

    fn add_written(&self, n: u64) {
        (**self).add_written(n);
    }
}

/// Bytes read and written, as two totals: the simplest [`Counter`].
#[derive(Debug, Default)]
pub struct ByteCounts {
    read: AtomicU64,
    written: AtomicU64,
}

impl ByteCounts {
    /// Bytes read so far.
    pub fn read(&self) -> u64 {
        self.read.load(Relaxed)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Relaxed)
    }
}

impl Counter for ByteCounts {
    fn add_read(&self, n: u64) {
        self.read.fetch_add(n, Relaxed);
    }

    fn add_written(&self, n: u64) {
        self.written.fetch_add(n, Relaxed);
    }
}

/// A stream that reports what it reads and writes to a [`Counter`].
///
/// Every call goes straight to the inner stream, vectored writes included
/// (and [`is_write_vectored`](AsyncWrite::is_write_vectored) is the inner
/// stream's), so wrapping a socket changes nothing but the counts.
#[derive(Debug)]
pub struct Counted<S, C> {
    inner: S,
    counter: C,
}

impl<S, C> Counted<S, C> {
    /// Counts what crosses `inner` into `counter`.
    pub fn new(inner: S, counter: C) -> Self {
        Counted { inner, counter }
    }

    /// Where the bytes are counted.
    pub fn counter(&self) -> &C {
        &self.counter
    }

    /// The stream inside (reading or writing through it is not counted).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

// The counter is never pinned (only borrowed), so only the stream decides.
impl<S: Unpin, C> Unpin for Counted<S, C> {}

impl<S: AsyncRead + Unpin, C: Counter> AsyncRead for Counted<S, C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            this.counter.add_read(n as u64);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin, C: Counter> AsyncWrite for Counted<S, C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(&r);
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.written(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S, C: Counter> Counted<S, C> {
    fn written(&self, r: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = *r {
            if n > 0 {
                self.counter.add_written(n as u64);
            }
        }
    }
}

/// A counted socket is still the socket to hyper's client (a publisher's
/// `POST`s are counted under TLS like a subscriber's polls).
#[cfg(feature = "hyper")]
impl<S, C> hyper_util::client::legacy::connect::Connection for Counted<S, C>
where
    S: hyper_util::client::legacy::connect::Connection,
{
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.inner.connected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_directions() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut c = Counted::new(a, Arc::new(ByteCounts::default()));
        c.write_all(b"hello").await.unwrap();
        b.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 3];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!((c.counter().read(), c.counter().written()), (3, 5));
    }

    /// Takes at most `take` bytes a write, vectored or not; says it is
    /// vectored.
    struct Vectored {
        take: usize,
        got: Vec<u8>,
        vectored_calls: usize,
    }

    impl AsyncWrite for Vectored {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.take);
            self.get_mut().got.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.vectored_calls += 1;
            let mut left = this.take;
            for b in bufs {
                let n = b.len().min(left);
                this.got.extend_from_slice(&b[..n]);
                left -= n;
            }
            Poll::Ready(Ok(this.take - left))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn vectored_writes_reach_the_stream_and_count_what_it_took() {
        let inner = Vectored {
            take: 4,
            got: Vec::new(),
            vectored_calls: 0,
        };
        let mut c = Counted::new(inner, ByteCounts::default());
        assert!(c.is_write_vectored());
        let bufs = [io::IoSlice::new(b"abc"), io::IoSlice::new(b"defg")];
        let n = c.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, 4);
        assert_eq!(c.counter().written(), 4);
        assert_eq!(c.get_ref().vectored_calls, 1);
        assert_eq!(c.get_ref().got, b"abcd");
    }

    #[test]
    fn plain_streams_stay_unvectored() {
        let (a, _b) = tokio::io::duplex(64);
        let c = Counted::new(a, ByteCounts::default());
        assert_eq!(c.is_write_vectored(), c.get_ref().is_write_vectored());
    }
}
