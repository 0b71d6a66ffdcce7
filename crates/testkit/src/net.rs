//! Sockets as tests need them: an address that refuses, a stream that
//! counts its own bytes, and reading until the peer closes.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};

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

/// Bytes that went through a [`Counted`] stream, each way: netio's own
/// counter, so a test counts through the same write path as production.
pub type Counts = pushpoll_netio::ByteCounts;

/// A stream that counts what goes through it, independently of any count
/// the code under test keeps (which is what the test checks): netio's
/// `Counted`, the wrapper the server and the generator count with.
pub type Counted<S> = pushpoll_netio::Counted<S, Arc<Counts>>;

/// `inner`, counted from zero.
pub fn counted<S>(inner: S) -> Counted<S> {
    Counted::new(inner, Arc::default())
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
        use std::io;
        let e = tokio::net::TcpStream::connect(dead_addr())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn counted_counts_both_ways_and_read_to_close_keeps_everything() {
        use tokio::io::AsyncWriteExt;
        let (a, mut b) = tokio::io::duplex(64);
        let mut a = counted(a);
        a.write_all(b"hello").await.unwrap();
        b.write_all(b"hi").await.unwrap();
        drop(b);
        assert_eq!(read_to_close(&mut a).await, b"hi");
        assert_eq!((a.counter().written(), a.counter().read()), (5, 2));
    }
}
