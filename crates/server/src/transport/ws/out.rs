//! A session's socket, shared by its two halves, and the writing of frames
//! to it.
//!
//! # Why the send half does not write through tungstenite
//! A broadcast at one message a second is unbatched: every delivery is one
//! frame in one write. Through tungstenite's `Sink` each delivery built a
//! `Message`, framed it and copied it into the session's write buffer,
//! behind the split stream's lock, inside a boxed write future: with this
//! writer a paced delivery went from 4,154 to 2,912 user-space instructions
//! (`scripts/callgrind-fanout.sh`). Here the hub frames each message once
//! ([`Message::ws_frame`](crate::hub::Message::ws_frame)) and a socket
//! takes the shared frame as it is: a chunk is that frame's `Bytes` when a
//! write carries one message, and a copy only when it carries several.
//!
//! tungstenite still reads (every check of RFC 6455 on what clients send).
//! What it writes (a Pong, the echo of a Close) goes to a small buffer, not
//! to the socket, and the send half writes it between two of its chunks, so
//! frames never interleave; the receive half's own Pings go the same way.
//!
//! Both halves run in one task (`halves::first_of` polls them in turn), so
//! the locks here are never contended: they are there so the task is `Send`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes of queued Pongs kept in order (past it only the latest is kept),
/// and of other control frames (the echo of a Close) held for the send
/// half (past it tungstenite's writes wait, as on a full socket).
const CONTROL_MAX: usize = 4 * 1024;

/// The Ping the session sends, empty.
const PING: &[u8] = &[0x89, 0x00];

/// The socket of one session; see the [module docs](self).
pub(super) struct Socket<S> {
    io: Mutex<S>,
    /// Boxed while frames wait, `None` otherwise: an idle socket holds 8
    /// bytes for it, not 80.
    control: Mutex<Option<Box<Control>>>,
    /// Set when control frames are queued. No waker: the receive half
    /// queues them while the task is being polled, and the send half,
    /// polled right after it on every wake, looks at this flag.
    control_queued: AtomicBool,
}

/// Control frames waiting for the send half.
#[derive(Default)]
struct Control {
    /// Pongs, in the order of their Pings, up to `CONTROL_MAX` bytes.
    pongs: Vec<u8>,
    /// Past that, the Pong to the latest Ping: a newer one replaces it (RFC
    /// 6455 §5.5.3 lets a server answer only the latest), so a Ping flood
    /// from a client that does not read piles nothing up, and the last Ping
    /// is still answered last.
    latest_pong: Option<Bytes>,
    /// The session's own Ping is due.
    ping: bool,
    /// Anything else tungstenite wrote (the echo of a Close), in order;
    /// empty (no allocation) while idle.
    rest: Vec<u8>,
    /// tungstenite's write, waiting for room in `rest`.
    waiting: Option<Waker>,
}

/// Whether `buf` is exactly one unmasked Pong frame (how tungstenite, with
/// no write buffer, hands over each Pong).
fn is_one_pong(buf: &[u8]) -> bool {
    matches!(buf, [0x8A, len, ..] if *len <= 125 && buf.len() == 2 + usize::from(*len))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Never contended (one task); a panic while holding one ends the task.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S> Socket<S> {
    pub(super) fn new(io: S) -> Self {
        Socket {
            io: Mutex::new(io),
            control: Mutex::new(None),
            control_queued: AtomicBool::new(false),
        }
    }

    /// Queues the session's Ping, to go out before the next chunk (or after
    /// the one being written).
    pub(super) fn queue_ping(&self) {
        lock(&self.control).get_or_insert_default().ping = true;
        self.control_queued.store(true, Relaxed);
    }

    /// Whether control frames wait to be written.
    pub(super) fn has_control(&self) -> bool {
        self.control_queued.load(Relaxed)
    }

    /// Resolves when control frames wait to be written (see `control_queued`).
    pub(super) fn control_queued(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|_| {
            if self.has_control() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// Takes the queued control frames, if any (Pong, Ping, then the rest),
    /// and lets a waiting tungstenite write go on.
    fn take_control(&self) -> Option<Bytes> {
        if !self.control_queued.swap(false, Relaxed) {
            return None;
        }
        let control = *lock(&self.control).take()?;
        if let Some(waker) = control.waiting {
            waker.wake();
        }
        let Control {
            pongs,
            latest_pong,
            ping,
            rest,
            ..
        } = control;
        if latest_pong.is_none() && !ping && rest.is_empty() {
            return (!pongs.is_empty()).then(|| Bytes::from(pongs));
        }
        let mut out = BytesMut::new();
        out.extend_from_slice(&pongs);
        out.extend_from_slice(latest_pong.as_deref().unwrap_or_default());
        if ping {
            out.extend_from_slice(PING);
        }
        out.extend_from_slice(&rest);
        Some(out.freeze())
    }
}

/// What tungstenite reads from and writes to: reads are the socket's,
/// writes go to the control buffer.
pub(super) struct Inbound<'a, S>(pub(super) &'a Socket<S>);

impl<S: AsyncRead + Unpin> AsyncRead for Inbound<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0.io)).poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for Inbound<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let socket = self.0;
        let mut control = lock(&socket.control);
        let control = control.get_or_insert_default();
        if is_one_pong(buf) {
            if control.pongs.len() + buf.len() <= CONTROL_MAX {
                control.pongs.extend_from_slice(buf);
            } else {
                control.latest_pong = Some(Bytes::copy_from_slice(buf));
            }
        } else {
            // tungstenite writes whole frames from its buffer: taking all
            // of a write or none of it keeps them whole.
            if !control.rest.is_empty() && control.rest.len() + buf.len() > CONTROL_MAX {
                control.waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
            control.rest.extend_from_slice(buf);
        }
        socket.control_queued.store(true, Relaxed);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The send half writes (and flushes) the control bytes.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The send half's writer: one chunk at a time, then the control bytes
/// queued meanwhile, then a flush.
pub(super) struct Outbound<'a, S> {
    socket: &'a Socket<S>,
    /// What is left of the chunk being written: empty while idle.
    chunk: Bytes,
}

impl<'a, S: AsyncWrite + Unpin> Outbound<'a, S> {
    pub(super) fn new(socket: &'a Socket<S>) -> Self {
        Outbound {
            socket,
            chunk: Bytes::new(),
        }
    }

    /// Starts with the rest of a frame someone else began writing (nothing
    /// may go before it).
    pub(super) fn resume(&mut self, rest: Bytes) {
        debug_assert!(self.chunk.is_empty(), "a chunk was being written");
        self.chunk = rest;
    }

    /// Adds whole frames after what is left to write; a new chunk starts
    /// with the control frames queued (a Pong goes out before messages
    /// published after its Ping).
    pub(super) fn push(&mut self, frames: Bytes) {
        if self.chunk.is_empty() {
            if let Some(control) = self.socket.take_control() {
                self.chunk = control;
            }
        }
        if self.chunk.is_empty() {
            self.chunk = frames;
        } else {
            let mut joined = BytesMut::with_capacity(self.chunk.len() + frames.len());
            joined.extend_from_slice(&self.chunk);
            joined.extend_from_slice(&frames);
            self.chunk = joined.freeze();
        }
    }

    /// Writes the chunk and the control bytes queued, then flushes.
    pub(super) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.chunk.is_empty() {
                match self.socket.take_control() {
                    Some(control) => self.chunk = control,
                    None => break,
                }
            }
            let mut io = lock(&self.socket.io);
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &self.chunk))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.chunk.advance(n);
        }
        Pin::new(&mut *lock(&self.socket.io)).poll_flush(cx)
    }

    /// [`poll_write_out`](Self::poll_write_out) as a future.
    pub(super) fn write_out(&mut self) -> impl Future<Output = io::Result<()>> + use<'_, 'a, S> {
        std::future::poll_fn(|cx| self.poll_write_out(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Control frames go out between chunks, never inside one, and before
    /// a chunk that starts after they were queued.
    #[tokio::test]
    async fn control_frames_wait_for_the_chunk_being_written() {
        let (server, mut client) = tokio::io::duplex(4);
        let socket = Socket::new(server);
        let mut out = Outbound::new(&socket);
        out.push(Bytes::from_static(b"[chunk one]"));
        let mut inbound = Inbound(&socket);
        let reader = async {
            let mut got = vec![0; 28];
            client.read_exact(&mut got).await.unwrap();
            got
        };
        let writer = async {
            // A partial write first (the pipe takes 4 bytes), then a Close
            // echo from tungstenite and a chunk pushed after it.
            let first = std::future::poll_fn(|cx| Poll::Ready(out.poll_write_out(cx))).await;
            assert!(first.is_pending());
            inbound.write_all(b"<close>").await.unwrap();
            out.push(Bytes::from_static(b"(two)"));
            out.write_out().await.unwrap();
            // Queued while idle: before the next chunk.
            socket.queue_ping();
            out.push(Bytes::from_static(b"(3)"));
            out.write_out().await.unwrap();
        };
        let (got, ()) = tokio::join!(reader, writer);
        assert_eq!(&got[..], b"[chunk one](two)<close>\x89\x00(3)");
    }

    /// Every Pong in order while they fit, then only the latest: a flood
    /// is bounded and its last Ping answered last (Autobahn 2.10 sends ten
    /// Pings at once and wants ten Pongs).
    #[tokio::test]
    async fn pongs_go_in_order_then_only_the_latest() {
        let (server, _client) = tokio::io::duplex(64);
        let socket = Socket::new(server);
        let mut inbound = Inbound(&socket);
        let pong = |i: u32| {
            let mut frame = vec![0x8A, 4];
            frame.extend_from_slice(&i.to_be_bytes());
            frame
        };
        for i in 0..10 {
            inbound.write_all(&pong(i)).await.unwrap();
        }
        let ten: Vec<u8> = (0..10).flat_map(pong).collect();
        assert_eq!(socket.take_control().unwrap(), ten);
        for i in 0..10_000 {
            inbound.write_all(&pong(i)).await.unwrap();
        }
        let kept = socket.take_control().unwrap();
        let fit = CONTROL_MAX / 6;
        assert_eq!(kept.len(), (fit + 1) * 6);
        assert_eq!(
            &kept[..fit * 6],
            &(0..fit as u32).flat_map(pong).collect::<Vec<_>>()[..]
        );
        assert_eq!(&kept[fit * 6..], &pong(9_999)[..]);
        assert!(socket.take_control().is_none());
    }

    #[tokio::test]
    async fn tungstenite_waits_when_the_control_buffer_is_full() {
        let (server, _client) = tokio::io::duplex(64);
        let socket = Socket::new(server);
        let mut inbound = Inbound(&socket);
        inbound.write_all(&[0; CONTROL_MAX]).await.unwrap();
        let more = std::future::poll_fn(|cx| {
            Poll::Ready(Pin::new(&mut Inbound(&socket)).poll_write(cx, b"x"))
        })
        .await;
        assert!(more.is_pending());
        assert_eq!(socket.take_control().map(|b| b.len()), Some(CONTROL_MAX));
        assert!(socket.take_control().is_none());
    }
}
