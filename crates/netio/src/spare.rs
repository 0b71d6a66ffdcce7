//! A stream that holds no read buffer while its connection is idle.
//!
//! A decoder that owns a big read buffer (tungstenite's, sized by its
//! `read_buffer_size`) keeps it for the connection's whole life, and at
//! 10,000 idle WebSockets those buffers are most of a server's memory. With
//! the decoder's buffer shrunk to a few hundred bytes, each of its reads
//! asks for little; read straight from the socket, every one would be a
//! system call. [`SpareRead`] reads the socket into a buffer on the stack of
//! the poll, as much as has arrived, hands the decoder what it asked for and
//! keeps the rest on the heap only until the decoder has taken it: a
//! connection holds read bytes only while data is in flight (the design of
//! gobwas/ws, "A Million WebSockets and Go").

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket at most per read (on the stack of the poll).
const STAGING: usize = 16 * 1024;

/// Reads through a stack buffer, keeping only unread bytes; see the
/// [module docs](self). Writes pass through unchanged.
#[derive(Debug)]
pub struct SpareRead<S> {
    inner: S,
    /// Read from the socket, not yet taken: empty (no allocation) while idle.
    rest: Vec<u8>,
    /// How much of `rest` was taken.
    taken: usize,
}

impl<S> SpareRead<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        SpareRead {
            inner,
            rest: Vec::new(),
            taken: 0,
        }
    }

    /// Bytes read from the socket and not taken yet.
    pub fn buffered(&self) -> usize {
        self.rest.len() - self.taken
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SpareRead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.taken < this.rest.len() {
            let n = (this.rest.len() - this.taken).min(buf.remaining());
            buf.put_slice(&this.rest[this.taken..this.taken + n]);
            this.taken += n;
            if this.taken == this.rest.len() {
                // Drained: give the memory back.
                this.rest = Vec::new();
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= STAGING {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let mut staging = [MaybeUninit::<u8>::uninit(); STAGING];
        let mut staged = ReadBuf::uninit(&mut staging);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut staged))?;
        let got = staged.filled();
        let n = got.len().min(buf.remaining());
        buf.put_slice(&got[..n]);
        if n < got.len() {
            this.rest = got[n..].to_vec();
            this.taken = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SpareRead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn small_reads_get_every_byte_in_order_and_the_rest_is_freed() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut client = client;
        let sent: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                client.write_all(&sent).await.expect("the duplex takes it");
                client
            })
        };
        let mut spare = SpareRead::new(server);
        let mut got = Vec::new();
        let mut small = [0u8; 14];
        while got.len() < sent.len() {
            let n = spare.read(&mut small).await.expect("reads");
            assert!(n > 0, "no EOF before everything arrived");
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, sent);
        assert_eq!(spare.buffered(), 0);
        assert_eq!(spare.rest.capacity(), 0, "nothing held once drained");
        drop(writer.await.expect("the writer does not panic"));
        assert_eq!(spare.read(&mut small).await.expect("EOF reads"), 0);
    }

    #[tokio::test]
    async fn big_reads_go_straight_to_the_caller() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        client.write_all(&[7u8; 1000]).await.expect("written");
        let mut spare = SpareRead::new(server);
        let mut big = vec![0u8; STAGING];
        let n = spare.read(&mut big).await.expect("reads");
        assert_eq!(&big[..n], &[7u8; 1000][..n]);
        assert_eq!(spare.buffered(), 0);
    }
}
