//! Read-side wrappers (a decompressor, a stream that replays sniffed bytes)
//! change what is read and nothing that is written: their `AsyncWrite` is
//! the inner stream's, vectored writes included, so a write through them
//! reaches the socket exactly as it would without them.

/// Implements `tokio::io::AsyncWrite` for `$name<S>` by passing every call
/// to its `inner: S` field, `poll_write_vectored` and `is_write_vectored`
/// included. The wrapper must be `Unpin` over an `Unpin` inner stream.
#[macro_export]
macro_rules! write_through {
    ($name:ident) => {
        impl<S: ::tokio::io::AsyncWrite + Unpin> ::tokio::io::AsyncWrite for $name<S> {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

    /// A read-side wrapper that writes through.
    struct Upper<S> {
        inner: S,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Upper<S> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
        }
    }

    crate::write_through!(Upper);

    #[tokio::test]
    async fn writes_reach_the_inner_stream_vectored_included() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut w = Upper { inner: a };
        w.write_all(b"hello ").await.unwrap();
        let bufs = [std::io::IoSlice::new(b"wor"), std::io::IoSlice::new(b"ld")];
        let n = w.write_vectored(&bufs).await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(w.is_write_vectored(), w.inner.is_write_vectored());
        let mut got = vec![0u8; 6 + n];
        tokio::io::AsyncReadExt::read_exact(&mut b, &mut got)
            .await
            .unwrap();
        assert_eq!(&got[..6], b"hello ");
        assert_eq!(&got[6..], &b"world"[..n]);
        w.shutdown().await.unwrap();
    }
}
