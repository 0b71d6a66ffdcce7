//! A lean HTTP/1.1 client for polls: one keep-alive connection, driven from
//! the subscriber's own task, with the request head rendered once.
//!
//! Why not hyper: the generator must never be what limits a short-poll
//! measurement (issue #8: at least 90 % of wrk's request rate on the same
//! endpoint and connection count). Through hyper's `client::conn` it reached
//! 80 %, spending 23–28 µs of CPU per request against wrk's 14–18 µs. A
//! callgrind profile (about 23,500 instructions a request) put 47 % in
//! hyper's connection task (the answer's head parsed into a `HeaderMap`,
//! the request head written), 15 % in building each request anew
//! (`http::request::Builder`, header-name parsing, URI parsing), and the
//! rest in a timer per request, the body collector, and two task hops per
//! request through hyper's dispatch channel. A poll loop needs none of that
//! generality: the same headers every time, one answer per request, a few
//! facts of the answer's head.
//!
//! What it does: [`PollHead`] renders the headers once, byte for byte as
//! hyper 1 writes them (`GET <target> HTTP/1.1`, then each header as
//! `name: value` in `HeaderMap` order, names lowercase, then an empty line;
//! no `Content-Length` for a bodiless GET), so the bytes counted on the
//! wire are exactly those of the hyper client it replaces. [`H1Conn::fetch`]
//! writes request line and head in one write, reads the answer into a
//! reused buffer, parses its head with `httparse`, skips `1xx` answers and
//! frames the body as RFC 9112 §6.3 says: none for `1xx`/`204`/`304`,
//! `Transfer-Encoding: chunked` (extensions and trailers skipped),
//! `Content-Length`, or up to the end of the connection. Compressed bodies
//! are decoded through [`crate::proto::decode`].
//!
//! What it does not do: no pipelining (a byte left after a complete answer
//! is a `protocol` error and the connection is dropped), no
//! `Expect: 100-continue`, no request bodies, no upgrades (a `101` is a
//! `protocol` error), no `HEAD`. A connection the server closes
//! (`Connection: close`, an HTTP/1.0 answer without `keep-alive`, or a body
//! read to the end of the connection) says so in [`Answer::close`], and
//! the poll loop opens a new one without counting an error; a request sent
//! on it anyway fails with `eof`.
//!
//! Limits: a head (and trailers) of at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] header lines (else `protocol`); a body of at most the
//! caller's `max_body` bytes, before and after decoding (else
//! `body_too_large`, or `content_encoding` for a decoded body); the whole
//! request and answer within the caller's timeout (else `timeout`).

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::config::trust::TlsTarget;
use crate::core::error::{io_kind, Kind};
use crate::net::connect::{connect_counted, SubStream};
use crate::net::count::SubIo;
use crate::proto::decode::{decode_body, Coding};
use crate::proto::retry::retry_after_value;

/// Longest answer head (status line and headers), and longest trailer
/// section, in bytes.
pub(crate) const MAX_HEAD: usize = 64 << 10;
/// Most header lines in an answer head (hyper's default too).
pub(crate) const MAX_HEADERS: usize = 100;
/// Longest chunk-size line (with extensions) of a chunked body.
const MAX_CHUNK_LINE: usize = 4 << 10;
/// Most bytes one read takes, through a buffer on the stack of the poll
/// ([`read_staged`]); a body known to be longer is read straight into the
/// read buffer.
const READ_CHUNK: usize = 8 << 10;

const PROTOCOL: Kind = Kind::Borrowed("protocol");
const EOF: Kind = Kind::Borrowed("eof");
const TOO_LARGE: Kind = Kind::Borrowed("body_too_large");

/// A poll request's head but for its target, rendered once per subscriber.
#[derive(Debug, Clone)]
pub(crate) struct PollHead {
    /// ` HTTP/1.1\r\n`, the headers, and the empty line.
    tail: Box<[u8]>,
}

impl PollHead {
    /// Renders `headers` (the profile's and `--header`'s, `Host` included)
    /// as hyper 1's client writes them.
    pub fn new(headers: &http::HeaderMap) -> PollHead {
        let mut tail = Vec::with_capacity(16 + headers.len() * 32);
        tail.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in headers {
            tail.extend_from_slice(name.as_str().as_bytes());
            tail.extend_from_slice(b": ");
            tail.extend_from_slice(value.as_bytes());
            tail.extend_from_slice(b"\r\n");
        }
        tail.extend_from_slice(b"\r\n");
        PollHead {
            tail: tail.into_boxed_slice(),
        }
    }

    /// Writes the whole request for `target` (path and query) into `out`.
    /// A target that is not visible ASCII, or not a path, is a `protocol`
    /// error (hyper refused such a URI too).
    pub fn render(&self, target: &str, out: &mut Vec<u8>) -> Result<(), Kind> {
        let t = target.as_bytes();
        if t.first() != Some(&b'/') || !t.iter().all(|b| (0x21..0x7f).contains(b) && *b != b'#') {
            return Err(PROTOCOL);
        }
        out.clear();
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(t);
        out.extend_from_slice(&self.tail);
        Ok(())
    }

    /// The bytes of the request head after the target.
    #[cfg(test)]
    fn tail(&self) -> &[u8] {
        &self.tail
    }
}

/// One answer: what a poll loop needs of its head, and its decoded body.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The status code.
    pub status: u16,
    /// `Retry-After` of a `429` / `503`, bounded
    /// ([`retry_after`](crate::proto::retry::retry_after)'s rules).
    pub retry_after: Option<Duration>,
    /// The server closes the connection after this answer.
    pub close: bool,
    /// The body, decoded.
    pub body: Bytes,
}

/// One keep-alive HTTP/1.1 connection for polls. Dropping it closes the
/// socket.
pub(crate) struct H1Conn<S = SubStream> {
    io: S,
    /// The request being written (reused).
    out: Vec<u8>,
    /// What was read and not yet consumed (reused).
    buf: BytesMut,
    /// False once the server closed or an exchange failed half-way.
    reusable: bool,
    /// The deadline of the current exchange (one timer per connection).
    timer: Pin<Box<Sleep>>,
}

impl H1Conn<SubStream> {
    /// Connects over a counted socket (with TLS when `tls` says so).
    pub async fn connect(
        addr: std::net::SocketAddr,
        tls: Option<&TlsTarget>,
        timeout: Duration,
        io: &Arc<SubIo>,
    ) -> Result<Self, Kind> {
        Ok(H1Conn::new(connect_counted(addr, tls, timeout, io).await?))
    }
}

/// The head of an answer, as far as framing and the caller need it.
#[derive(Debug)]
struct Head {
    status: u16,
    /// Bytes of the head, blank line included.
    len: usize,
    framing: Framing,
    close: bool,
    /// A coding the generator cannot decode is reported after the body was
    /// read, so the connection stays usable (as with hyper).
    coding: Result<Coding, Kind>,
    retry_after: Option<Duration>,
}

/// How the body of an answer is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (`1xx`, `204`, `304`).
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Up to the end of the connection.
    ToEof,
}

impl<S: AsyncRead + AsyncWrite + Unpin> H1Conn<S> {
    /// A client over an established stream.
    pub fn new(io: S) -> Self {
        H1Conn {
            io,
            out: Vec::new(),
            buf: BytesMut::new(),
            reusable: true,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Sends a GET of `target` with `head`'s headers and reads the whole
    /// answer (at most `max_body` bytes, decoded if it came compressed), all
    /// within `timeout`.
    pub async fn fetch(
        &mut self,
        head: &PollHead,
        target: &str,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Answer, Kind> {
        if !self.reusable {
            return Err(EOF);
        }
        head.render(target, &mut self.out)?;
        self.timer.as_mut().reset(Instant::now() + timeout);
        let exchange = exchange(&mut self.io, &self.out, &mut self.buf, max_body);
        let r = tokio::select! {
            biased;
            r = exchange => r,
            () = &mut self.timer => Err(Kind::Borrowed("timeout")),
        };
        let (head, body) = match r {
            Ok(x) => x,
            Err(kind) => {
                self.reusable = false;
                return Err(kind);
            }
        };
        // A body read to the end of the connection ends the connection too.
        let close = head.close || head.framing == Framing::ToEof;
        if close {
            self.reusable = false;
        }
        let body = decode_body(head.coding?, body, max_body)?;
        Ok(Answer {
            status: head.status,
            retry_after: head.retry_after,
            close,
            body,
        })
    }
}

/// Writes `req` and reads one final answer: its head and raw body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    req: &[u8],
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<(Head, Bytes), Kind> {
    io.write_all(req).await.map_err(|e| io_kind(&e))?;
    io.flush().await.map_err(|e| io_kind(&e))?;
    let head = loop {
        let head = loop {
            // (An empty buffer is not worth a parse: the usual case, as
            // nothing is left from the last answer.)
            if !buf.is_empty() {
                if let Some(h) = parse_head(buf)? {
                    break h;
                }
            }
            read_more(io, buf, 0).await?;
        };
        buf.advance(head.len);
        if head.status >= 200 {
            break head;
        }
    };
    let body = match head.framing {
        Framing::Empty => Bytes::new(),
        Framing::Length(n) => {
            if n > max_body as u64 {
                return Err(TOO_LARGE);
            }
            let n = n as usize;
            while buf.len() < n {
                read_more(io, buf, n - buf.len()).await?;
            }
            buf.split_to(n).freeze()
        }
        Framing::Chunked => read_chunked(io, buf, max_body).await?,
        Framing::ToEof => loop {
            if buf.len() > max_body {
                return Err(TOO_LARGE);
            }
            if read_staged(io, buf).await.map_err(|e| io_kind(&e))? == 0 {
                break buf.split().freeze();
            }
        },
    };
    if !buf.is_empty() {
        // Nothing was asked for beyond this answer.
        return Err(PROTOCOL);
    }
    // Nothing is held between answers: a held long poll waits with no
    // read buffer (the next answer's bytes are read through the stack).
    *buf = BytesMut::new();
    Ok((head, body))
}

/// Reads more into `buf` (`want` bytes are still to come, if known); the
/// connection ending first is `eof`.
async fn read_more<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    want: usize,
) -> Result<(), Kind> {
    let read = if want > READ_CHUNK {
        // A long body: read straight into its room.
        buf.reserve(want);
        io.read_buf(buf).await
    } else {
        read_staged(io, buf).await
    };
    match read {
        Ok(0) => Err(EOF),
        Ok(_) => Ok(()),
        Err(e) => Err(io_kind(&e)),
    }
}

/// Reads what has arrived (at most [`READ_CHUNK`] bytes) into a buffer on
/// the stack of the poll and appends it to `buf`: waiting for an answer
/// costs no heap (the design of `pushpoll_netio::SpareRead`). The stack
/// buffer lives in the poll, not in the future, so it is not held while
/// the read waits.
fn read_staged<'a, S: AsyncRead + Unpin>(
    io: &'a mut S,
    buf: &'a mut BytesMut,
) -> impl std::future::Future<Output = std::io::Result<usize>> + 'a {
    std::future::poll_fn(move |cx| {
        let mut staging = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut staged = ReadBuf::uninit(&mut staging);
        std::task::ready!(Pin::new(&mut *io).poll_read(cx, &mut staged))?;
        buf.extend_from_slice(staged.filled());
        std::task::Poll::Ready(Ok(staged.filled().len()))
    })
}

/// A chunked body, chunks joined, extensions and trailers dropped.
async fn read_chunked<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Bytes, Kind> {
    let mut body = BytesMut::new();
    loop {
        let (line, size) = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete(x)) => break x,
                Ok(httparse::Status::Partial) if buf.len() <= MAX_CHUNK_LINE => {
                    read_more(io, buf, 0).await?
                }
                _ => return Err(PROTOCOL),
            }
        };
        buf.advance(line);
        if size == 0 {
            break;
        }
        if size > (max_body - body.len()) as u64 {
            return Err(TOO_LARGE);
        }
        let size = size as usize;
        while buf.len() < size + 2 {
            read_more(io, buf, size + 2 - buf.len()).await?;
        }
        if &buf[size..size + 2] != b"\r\n" {
            return Err(PROTOCOL);
        }
        body.extend_from_slice(&buf[..size]);
        buf.advance(size + 2);
    }
    // Trailer lines up to an empty one.
    let mut trailers = 0;
    loop {
        match buf.windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                buf.advance(2);
                return Ok(body.freeze());
            }
            Some(n) => {
                trailers += n + 2;
                buf.advance(n + 2);
            }
            None => read_more(io, buf, 0).await?,
        }
        if trailers + buf.len() > MAX_HEAD + READ_CHUNK {
            return Err(PROTOCOL);
        }
    }
}

/// Whether a comma-separated header value lists `token`.
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Parses an answer's head at the start of `buf`; `None` while incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Kind> {
    // Left uninitialised: httparse writes what it parses, and filling 100
    // headers first cost more than the parse of a small head.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Ok(None),
        _ => return Err(PROTOCOL),
    };
    let status = resp.code.ok_or(PROTOCOL)?;
    if status == 101 {
        return Err(PROTOCOL);
    }
    let http10 = resp.version == Some(0);
    let (mut close, mut keep_alive) = (false, false);
    let mut chunked = None;
    let mut length: Option<u64> = None;
    let mut coding = None;
    let mut retry_after = None;
    for h in resp.headers.iter() {
        let v = h.value;
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"connection") {
            close |= has_token(v, b"close");
            keep_alive |= has_token(v, b"keep-alive");
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the last coding of the last header decides.
            let last = v.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            for part in v.split(|&b| b == b',') {
                let n = parse_length(part.trim_ascii()).ok_or(PROTOCOL)?;
                if length.is_some_and(|l| l != n) {
                    return Err(PROTOCOL);
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            coding.get_or_insert(v);
        } else if name.eq_ignore_ascii_case(b"retry-after") {
            retry_after.get_or_insert(v);
        }
    }
    let framing = if status < 200 || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::ToEof,
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::ToEof,
        }
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        close: close || (http10 && !keep_alive),
        coding: coding.map_or(Ok(Coding::Identity), Coding::from_value),
        retry_after: retry_after.and_then(|v| retry_after_value(status, v)),
    }))
}

/// A `Content-Length` value: decimal digits only.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

pub(crate) mod stream;

#[cfg(test)]
mod tests;
