//! The requests a push server holds, answered without hyper: `GET /messages`
//! (short and long polls) and `GET /events` (SSE streams) over HTTP/1.1.
//!
//! Why: hyper keeps two 8 KiB buffers per connection (it reads into one and
//! writes response heads from the other) for as long as the connection
//! lives, and their touched pages stay resident. A held long poll or an open
//! SSE stream is a request in flight for its whole life, so those pages were
//! most of what one cost (issue #18: 12.2 and 16.4 KiB of server RSS each).
//! Here a request head is read into a `Vec` that grows only with the bytes
//! that arrive and is freed once parsed; a response head is written from a
//! buffer freed once sent; while a request is held, the socket is watched
//! for a hang-up through a buffer on the stack of each poll.
//!
//! Anything else goes to hyper, with the bytes read so far replayed, for the
//! rest of the connection: other paths and methods, a request body, an
//! upgrade (WebSocket), `Expect`, HTTP/1.0, a head httparse refuses or one
//! over the header limits. Their behaviour, limits and error answers stay
//! hyper's and the router's. A head taking longer than
//! `header_read_timeout` (counted from when the connection starts waiting
//! for it, as hyper does) ends the connection, as in hyper.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderName, HeaderValue, Method, Request, Response, Version};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tracing::debug;

use crate::connection::ConnState;
use crate::response::Body;
use crate::router::Answer;
use crate::transport::sse;
use crate::{router, Shared};

/// Headers parsed on the stack; a head with more goes to hyper (whose own
/// limits then apply).
const MAX_HEADERS: usize = 64;
/// The stack buffer of one socket read.
const READ_CHUNK: usize = 4096;

/// How the front left the connection.
pub(super) enum Handoff<S> {
    /// The connection is over (closed, hung up, timed out, shut down).
    Closed,
    /// hyper takes the rest of the connection, starting with these bytes.
    Hyper(Replay<S>),
}

/// Serves requests while they are polls or SSE streams.
pub(super) async fn serve<S>(mut io: S, shared: &Arc<Shared>, conn: &Arc<ConnState>) -> Handoff<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let limits = &shared.limits;
    // Bytes read and not yet used: a head being read, or what a client sent
    // after one (pipelining). Empty, and unallocated, between requests.
    let mut pending: Vec<u8> = Vec::new();
    let hard_head_bytes = limits.hard_header_bytes();
    loop {
        let head = tokio::select! {
            r = read_head(&mut io, &mut pending, hard_head_bytes) => r,
            () = tokio::time::sleep(limits.header_read_timeout) => {
                debug!(peer = %conn.peer, "no request head within header_read_timeout: closing");
                return Handoff::Closed;
            }
            () = shared.shutdown.raised() => return Handoff::Closed,
        };
        let len = match head {
            Head::Complete(len) => len,
            Head::Closed => return Handoff::Closed,
            Head::Other => return Handoff::Hyper(Replay::new(pending, io)),
        };
        let Some((req, close)) = parse(&pending[..len]) else {
            return Handoff::Hyper(Replay::new(pending, io));
        };
        let Some(answer) = router::route_head(req, shared, conn) else {
            return Handoff::Hyper(Replay::new(pending, io));
        };
        pending.drain(..len);
        if pending.is_empty() {
            pending = Vec::new();
        }
        let keep = match answer {
            Answer::Events(opened) => {
                conn.attribution.finish();
                stream(&mut io, *opened, close, &mut pending, shared, conn).await
            }
            answer => {
                let resp = tokio::select! {
                    resp = answer.finish(shared, conn) => resp,
                    () = hang_up(&mut io, &mut pending, hard_head_bytes) => return Handoff::Closed,
                };
                write_response(&mut io, resp, close).await
            }
        };
        match keep {
            Ok(true) if !shared.shutdown.is_raised() => {}
            Ok(_) => {
                let _ = tokio::time::timeout(limits.close_timeout, io.shutdown()).await;
                return Handoff::Closed;
            }
            Err(e) => {
                debug!(peer = %conn.peer, error = %e, "writing an answer failed");
                return Handoff::Closed;
            }
        }
    }
}

enum Head {
    /// A head of this many bytes is at the start of `pending`.
    Complete(usize),
    /// The client closed (or the socket failed) before a head.
    Closed,
    /// Not a head this front can judge (malformed, too big): hyper's.
    Other,
}

/// Reads until `pending` starts with a complete request head. The head is
/// parsed when a blank line arrives and whenever it has doubled since the
/// last parse (so bytes that are not HTTP, a TLS hello say, are refused at
/// once), never once per byte of a head sent a byte at a time.
async fn read_head<S: AsyncRead + Unpin>(io: &mut S, pending: &mut Vec<u8>, max: usize) -> Head {
    let (mut scanned, mut parsed_at) = (0usize, 0usize);
    loop {
        // A blank line ends a head: `\n\n` or `\n\r\n` (one split across
        // reads included).
        let blank = pending[scanned.saturating_sub(2)..]
            .windows(2)
            .any(|w| w == b"\n\n" || w == b"\n\r");
        scanned = pending.len();
        if !pending.is_empty() && (blank || pending.len() >= 2 * parsed_at) {
            parsed_at = pending.len();
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::Request::new(&mut headers).parse(pending) {
                Ok(httparse::Status::Complete(len)) => return Head::Complete(len),
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Head::Other,
            }
        }
        if pending.len() >= max {
            return Head::Other;
        }
        match poll_fn(|cx| read_some(io, cx, pending)).await {
            // Between requests, or a head cut short (hyper closes too).
            Ok(0) | Err(_) => return Head::Closed,
            Ok(_) => {}
        }
    }
}

/// One socket read through a buffer on this poll's stack, appended to
/// `pending`: nothing is held while the socket is quiet.
fn read_some<S: AsyncRead + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    pending: &mut Vec<u8>,
) -> Poll<io::Result<usize>> {
    let mut chunk = [0u8; READ_CHUNK];
    let mut buf = ReadBuf::new(&mut chunk);
    match Pin::new(io).poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) => {
            pending.extend_from_slice(buf.filled());
            Poll::Ready(Ok(buf.filled().len()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Resolves when the client hangs up (or its socket fails) while a request
/// is held. What it sends meanwhile (a pipelined request) is kept in
/// `pending`, up to `max` bytes; past that the socket is no longer read
/// until the answer is out.
async fn hang_up<S: AsyncRead + Unpin>(io: &mut S, pending: &mut Vec<u8>, max: usize) {
    loop {
        if pending.len() >= max {
            return std::future::pending().await;
        }
        match poll_fn(|cx| read_some(io, cx, pending)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The request, if this front answers it, and whether the client asked to
/// close after it.
fn parse(head: &[u8]) -> Option<(Request<()>, bool)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(head).ok()?;
    if parsed.method? != "GET" || parsed.version? != 1 {
        return None;
    }
    let path = parsed.path?;
    let route_path = path.split_once('?').map_or(path, |(p, _)| p);
    if !router::is_held_path(route_path) {
        return None;
    }
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .version(Version::HTTP_11)
        .body(())
        .ok()?;
    let map = req.headers_mut();
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        map.append(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    // A body, a protocol switch or an expectation: hyper's to handle.
    let has_body = map.contains_key(TRANSFER_ENCODING)
        || map
            .get_all(CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes() != b"0");
    if has_body || map.contains_key(UPGRADE) || map.contains_key(EXPECT) {
        return None;
    }
    let close = wants_close(map);
    Some((req, close))
}

/// Whether a comma-separated header value lists `token` (any case).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Writes one answer; true when the connection may carry another request.
async fn write_response<S>(io: &mut S, resp: Response<Body>, client_close: bool) -> io::Result<bool>
where
    S: AsyncWrite + Unpin,
{
    let (parts, body) = resp.into_parts();
    let close = client_close || wants_close(&parts.headers);
    match body {
        Body::Full(bytes) => {
            let bytes = bytes.unwrap_or_default();
            let mut out = response_head(&parts, close, Some(bytes.len()));
            out.extend_from_slice(&bytes);
            io.write_all(&out).await?;
        }
        // Streams come here as `Answer::Events`; a stream body from any
        // other answer is still sent, chunk by chunk.
        Body::Stream(mut rx) => {
            io.write_all(&response_head(&parts, close, None)).await?;
            while let Some(chunk) = rx.recv().await {
                write_chunk(io, &chunk).await?;
            }
            io.write_all(LAST_CHUNK).await?;
        }
    }
    io.flush().await?;
    Ok(!close)
}

/// Runs an SSE stream in this task, straight to the socket; the connection
/// closes after it (whatever ended it: the client reconnects).
async fn stream<S>(
    io: &mut S,
    opened: sse::Opened,
    client_close: bool,
    pending: &mut Vec<u8>,
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
) -> io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (parts, ()) = sse::Opened::head(()).into_parts();
    let mut sink = Socket {
        io,
        pending,
        max: shared.limits.hard_header_bytes(),
        unsent: response_head(&parts, client_close, None),
        at: 0,
        unflushed: false,
        left: false,
    };
    // Boxed: a held long poll's state has no room for a stream's.
    Box::pin(opened.run(&mut sink, Arc::clone(shared), Arc::clone(conn))).await;
    // Ended by the server (shutdown, a slow consumer): the body's end. A
    // client that left is sent nothing more.
    if !sink.left {
        sink.unsent.extend_from_slice(LAST_CHUNK);
        let _ = tokio::time::timeout(shared.limits.close_timeout, sink.drain()).await;
    }
    Ok(false)
}

/// The socket as an SSE stream's sink: one chunk, in HTTP/1.1 chunked
/// framing, is held until written (a channel of one, as hyper's path has a
/// channel of two): a send returns once its chunk is buffered, and blocks
/// while the one before it is not yet written. The buffer is freed once
/// written, so an idle stream holds none.
struct Socket<'a, S> {
    io: &'a mut S,
    pending: &'a mut Vec<u8>,
    max: usize,
    unsent: Vec<u8>,
    at: usize,
    unflushed: bool,
    /// The client hung up, or its socket failed.
    left: bool,
}

impl<S: AsyncWrite + Unpin> Socket<'_, S> {
    /// Writes and flushes what is buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.at < self.unsent.len() {
            let n = ready!(Pin::new(&mut *self.io).poll_write(cx, &self.unsent[self.at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.at += n;
        }
        if !self.unsent.is_empty() {
            self.unsent = Vec::new();
            self.at = 0;
            self.unflushed = true;
        }
        if self.unflushed {
            ready!(Pin::new(&mut *self.io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    async fn drain(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_drain(cx)).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> sse::Sink for Socket<'_, S> {
    async fn send(&mut self, chunk: Bytes) -> Result<(), ()> {
        if self.drain().await.is_err() {
            self.left = true;
            return Err(());
        }
        if !chunk.is_empty() {
            self.unsent = chunked(&chunk);
        }
        // Most chunks go out at once; the rest is written while the stream
        // waits for the hub (`gone`) or before the next chunk.
        match poll_fn(|cx| Poll::Ready(self.poll_drain(cx))).await {
            Poll::Ready(Err(_)) => {
                self.left = true;
                Err(())
            }
            _ => Ok(()),
        }
    }

    async fn gone(&mut self) {
        poll_fn(|cx| {
            if let Poll::Ready(Err(_)) = self.poll_drain(cx) {
                return Poll::Ready(());
            }
            while self.pending.len() < self.max {
                match ready!(read_some(self.io, cx, self.pending)) {
                    Ok(0) | Err(_) => return Poll::Ready(()),
                    Ok(_) => {}
                }
            }
            Poll::Pending
        })
        .await;
        self.left = true;
    }
}

const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// One chunk of a chunked body, in one write.
async fn write_chunk<S: AsyncWrite + Unpin>(io: &mut S, chunk: &[u8]) -> io::Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    io.write_all(&chunked(chunk)).await
}

/// `chunk` (not empty: an empty chunk ends a body) in HTTP/1.1 chunked
/// framing.
fn chunked(chunk: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(chunk.len() + 12);
    framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
    framed.extend_from_slice(chunk);
    framed.extend_from_slice(b"\r\n");
    framed
}

fn wants_close(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .any(|v| has_token(v.as_bytes(), "close"))
}

/// A response head: status line, the answer's headers, `date`, and the
/// framing (`content-length`, or chunked when `body_len` is `None`).
fn response_head(parts: &http::response::Parts, close: bool, body_len: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body_len.unwrap_or(0));
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        header(&mut out, name.as_str(), value.as_bytes());
    }
    header(
        &mut out,
        "date",
        httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes(),
    );
    if close && !parts.headers.contains_key(CONNECTION) {
        header(&mut out, "connection", b"close");
    }
    match body_len {
        Some(n) => header(&mut out, "content-length", n.to_string().as_bytes()),
        None => header(&mut out, "transfer-encoding", b"chunked"),
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A stream whose first bytes were already read by the front: hyper reads
/// them again first. They are freed once read.
#[derive(Debug)]
pub(super) struct Replay<S> {
    read: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Replay<S> {
    fn new(read: Vec<u8>, inner: S) -> Self {
        Replay {
            read,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.read.len() {
            let n = (this.read.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.read[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.read.len() {
                this.read = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

pushpoll_netio::write_through!(Replay);
