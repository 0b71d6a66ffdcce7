//! HTTP/2 beside HTTP/1.1 on the same port: telling them apart by the
//! client connection preface, hyper's HTTP/2 settings derived from
//! [`Limits`], and what keeps the limits meaningful when one socket carries
//! many requests at once.
//!
//! A client speaks HTTP/2 over cleartext TCP only with prior knowledge (RFC
//! 9113 §3.3): its first 24 bytes are the preface `PRI * HTTP/2.0...`.
//! [`sniff`] reads just enough of the socket to know (one or two bytes for
//! any HTTP/1 request) and [`Rewind`] gives those bytes back to whichever
//! protocol serves the socket. Under TLS the client asks for `h2` by ALPN
//! and then sends the same preface, so the same sniffing serves both.
//!
//! What changes with HTTP/2, and how each limit still holds:
//! - One socket, one connection permit, however many streams: streams are
//!   capped by [`Limits::h2_max_concurrent_streams`], and every stream runs
//!   as a task that shutdown waits for and, past the grace period, drops
//!   ([`StreamExec`]).
//! - Header bytes: hyper's decoder stops at twice `max_header_bytes` (the
//!   HPACK-decoded header list, as for HTTP/1's parser), and the router's
//!   own `431` check applies to every stream as it does to every request.
//! - Timeouts: the preface must arrive within `header_read_timeout`, and a
//!   connection with no stream open for a whole `header_read_timeout` (the
//!   keep-alive idle limit of HTTP/1) is sent GOAWAY ([`Streams`]).
//! - Buffers: the flow-control windows and hyper's per-stream send buffer
//!   are bounded from `max_body_bytes`, so what one client can make the
//!   server buffer stays in the same range as over HTTP/1.
//! - Shutdown: GOAWAY, then held long polls are answered empty and SSE
//!   streams ended (they watch the same per-connection token as over
//!   HTTP/1), and the socket closes when its last stream is done.
//! - Bytes: a socket carries streams of several requests at once, so bytes
//!   cannot be split per request as HTTP/1's are. Every byte of an HTTP/2
//!   socket (preface, SETTINGS, HPACK-compressed headers, DATA, PING,
//!   GOAWAY) is counted, under the transport of the latest request begun on
//!   it (what came before any request goes with the first). pushpoll's load
//!   generator opens sockets per transport, so the split stays right there,
//!   but for a long-polling socket's first poll (no `since`, so a short
//!   poll) and what was counted before it, which go to `short_poll`.
//!
//! WebSocket over HTTP/2 (RFC 8441, extended CONNECT) is not served: the
//! SETTINGS do not offer it, and `GET /ws` over HTTP/2 is answered `505`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONNECTION;
use http::Response;
use hyper::body::{Frame, SizeHint};
use hyper::server::conn::http2;
use hyper_util::rt::TokioTimer;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio_util::task::TaskTracker;

use crate::config::Limits;
use crate::response::Body;
use crate::signal::Signal;

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a socket's first bytes announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Anything but the preface: HTTP/1.x.
    Http1,
    /// The HTTP/2 preface.
    Http2,
}

/// The first bytes of a socket, read to tell HTTP/2 from HTTP/1, and given
/// back by [`Rewind`].
#[derive(Debug)]
pub(crate) struct Sniffed {
    buf: [u8; 24],
    len: u8,
}

/// Reads until the bytes can no longer be the HTTP/2 preface, or are all
/// of it. `Ok(None)`: the client closed before sending anything.
pub(crate) async fn sniff<S: AsyncRead + Unpin>(
    io: &mut S,
) -> io::Result<Option<(Protocol, Sniffed)>> {
    let mut s = Sniffed {
        buf: [0; 24],
        len: 0,
    };
    loop {
        let at = usize::from(s.len);
        let n = io.read(&mut s.buf[at..]).await?;
        if n == 0 {
            return if at == 0 {
                Ok(None)
            } else {
                // A few bytes, then EOF: let HTTP/1 answer them (400).
                Ok(Some((Protocol::Http1, s)))
            };
        }
        let len = at + n;
        s.len = len as u8;
        if s.buf[..len] != PREFACE[..len] {
            return Ok(Some((Protocol::Http1, s)));
        }
        if len == PREFACE.len() {
            return Ok(Some((Protocol::Http2, s)));
        }
    }
}

/// A stream whose first bytes were already read: they are read again first.
#[derive(Debug)]
pub(crate) struct Rewind<S> {
    sniffed: Sniffed,
    pos: u8,
    inner: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(sniffed: Sniffed, inner: S) -> Self {
        Rewind {
            sniffed,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.sniffed.len {
            let rest = &this.sniffed.buf[usize::from(this.pos)..usize::from(this.sniffed.len)];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.pos += n as u8;
            // Whatever else has arrived goes in the same read. hyper sizes
            // its read buffer per read: a first read of only these bytes
            // made it grow its 8 KiB buffer to 16 KiB for the rest of the
            // head, for the life of every HTTP/1 connection (+8 KiB per held
            // long poll or SSE stream, scripts/idle-memory.sh). A read error
            // here is not lost: the socket reports it (or its end) next time.
            if buf.remaining() > 0 {
                let _ = Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

// Reads are this wrapper's job; writes go straight to the socket.
pushpoll_netio::write_through!(Rewind);

/// What an HTTP/2 client over the connection limit is sent: an empty
/// SETTINGS frame (the server's preface), then GOAWAY with last stream 0
/// and `REFUSED_STREAM` (RFC 9113 §6.8: nothing was processed, retry), with
/// `reason` as debug data.
pub(crate) fn refusal(reason: &[u8]) -> Vec<u8> {
    const REFUSED_STREAM: u32 = 0x7;
    let len = 8 + reason.len().min(1 << 14);
    let mut out = Vec::with_capacity(9 + 9 + len);
    out.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&REFUSED_STREAM.to_be_bytes());
    out.extend_from_slice(&reason[..len - 8]);
    out
}

/// Runs each HTTP/2 stream as a task of the server's tracker, so shutdown
/// waits for streams as it waits for connections, and the end of the grace
/// period drops them.
#[derive(Clone)]
pub(crate) struct StreamExec {
    tasks: TaskTracker,
    abort: Arc<Signal>,
}

impl StreamExec {
    pub(crate) fn new(tasks: TaskTracker, abort: Arc<Signal>) -> Self {
        StreamExec { tasks, abort }
    }
}

impl<F: Future<Output = ()> + Send + 'static> hyper::rt::Executor<F> for StreamExec {
    fn execute(&self, fut: F) {
        let abort = Arc::clone(&self.abort);
        self.tasks.spawn(async move {
            tokio::select! {
                () = fut => {}
                () = abort.raised() => {}
            }
        });
    }
}

/// hyper's HTTP/2 settings, derived from the limits.
pub(crate) fn builder(limits: &Limits, exec: StreamExec) -> http2::Builder<StreamExec> {
    let mut b = http2::Builder::new(exec);
    let hard_header_bytes = limits
        .max_header_bytes
        .saturating_mul(2)
        .max(limits.max_header_bytes.saturating_add(8 * 1024));
    // A stream's window holds one largest publish body; the connection's a
    // few of them. Polls and SSE send a few hundred bytes up per stream.
    let stream_window = clamp_window(limits.max_body_bytes.saturating_add(1024));
    let conn_window = clamp_window((stream_window as usize).saturating_mul(4).max(256 * 1024));
    b.timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(hard_header_bytes).unwrap_or(u32::MAX))
        .initial_stream_window_size(stream_window)
        .initial_connection_window_size(conn_window)
        // hyper's default is 400 KiB queued per stream; an SSE stream whose
        // reader stalls must block its producer (the slow-consumer rule)
        // long before that.
        .max_send_buf_size(64 * 1024);
    b
}

/// An HTTP/2 window: at least the protocol's default, at most its maximum.
fn clamp_window(bytes: usize) -> u32 {
    u32::try_from(bytes)
        .unwrap_or(u32::MAX)
        .clamp(65_535, (1 << 31) - 1)
}

/// Streams of one HTTP/2 connection: how many are open, and a count of
/// openings and closings that tells whether anything happened in a period.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    open: AtomicU64,
    events: AtomicU64,
}

impl Streams {
    /// A stream began; it ends when the guard drops (its response body is
    /// done or the stream was reset).
    pub(crate) fn begin(self: &Arc<Self>) -> StreamGuard {
        self.open.fetch_add(1, Relaxed);
        self.events.fetch_add(1, Relaxed);
        StreamGuard(Arc::clone(self))
    }

    /// Waits until the connection has had no stream open for a whole
    /// `period` (checked once a period, so the idle time seen is between one
    /// and two periods).
    pub(crate) async fn idle_for(&self, period: Duration) {
        let start = tokio::time::Instant::now() + period;
        let mut tick = tokio::time::interval_at(start, period);
        let mut seen = u64::MAX;
        loop {
            tick.tick().await;
            let events = self.events.load(Relaxed);
            if self.open.load(Relaxed) == 0 && events == seen {
                return;
            }
            seen = events;
        }
    }
}

/// One open stream of [`Streams`].
#[derive(Debug)]
pub(crate) struct StreamGuard(Arc<Streams>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
        self.0.events.fetch_add(1, Relaxed);
    }
}

/// A response body that holds its stream's [`StreamGuard`] until it is done.
#[derive(Debug)]
pub(crate) struct StreamBody {
    body: Body,
    _guard: StreamGuard,
}

impl hyper::body::Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> SizeHint {
        hyper::body::Body::size_hint(&self.body)
    }
}

/// The answer to one stream, made fit for HTTP/2: connection-specific
/// headers (`Connection: close` on some errors) are HTTP/1's alone.
pub(crate) fn stream_response(
    mut resp: Response<Body>,
    guard: StreamGuard,
) -> Response<StreamBody> {
    resp.headers_mut().remove(CONNECTION);
    resp.map(|body| StreamBody {
        body,
        _guard: guard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn sniffs_the_preface_and_gives_the_bytes_back() {
        for (sent, want) in [
            (&PREFACE[..], Protocol::Http2),
            (&b"GET / HTTP/1.1\r\n\r\n"[..], Protocol::Http1),
            (&b"POST /messages HTTP/1.1\r\n\r\n"[..], Protocol::Http1),
            (&b"PRI * HTTP/1.1\r\n\r\n"[..], Protocol::Http1),
        ] {
            let (mut client, server) = tokio::io::duplex(64);
            let mut data = sent.to_vec();
            data.extend_from_slice(b"tail");
            // In pieces, as a slow client would send them.
            let writer = tokio::spawn(async move {
                for piece in data.chunks(5) {
                    client.write_all(piece).await.unwrap();
                    tokio::task::yield_now().await;
                }
                client
            });
            let mut server = server;
            let (proto, sniffed) = sniff(&mut server).await.unwrap().unwrap();
            assert_eq!(proto, want, "{:?}", String::from_utf8_lossy(sent));
            drop(writer.await.unwrap());
            let mut all = Vec::new();
            Rewind::new(sniffed, server)
                .read_to_end(&mut all)
                .await
                .unwrap();
            assert_eq!(&all[..sent.len()], sent);
            assert_eq!(&all[sent.len()..], b"tail");
        }
    }

    #[tokio::test]
    async fn nothing_sent_is_none() {
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert!(sniff(&mut server).await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_only_after_a_whole_period_without_streams() {
        let streams = Arc::new(Streams::default());
        let period = Duration::from_secs(10);
        let started = tokio::time::Instant::now();
        let guard = streams.begin();
        let s = Arc::clone(&streams);
        let idle = tokio::spawn(async move { s.idle_for(period).await });
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert!(!idle.is_finished(), "idle while a stream is open");
        drop(guard);
        idle.await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(45));
    }
}
