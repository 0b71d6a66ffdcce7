//! A streamed answer over the lean HTTP/1.1 client: an SSE subscriber's
//! `GET`, whose body never ends while the run lasts.
//!
//! Why not hyper: an idle SSE stream through hyper's `client::conn` held a
//! connection task of its own (about 8 KB of future), hyper's 8 KiB read
//! and write buffers and the body's channel, for a stream that receives
//! nothing most of the time: about 30 KiB of the generator's RSS per
//! subscriber. Here the subscriber's own task writes the request (rendered
//! by [`PollHead`](super::PollHead), byte for byte as hyper writes it),
//! parses the answer's head with the poll client's parser, and reads the
//! body through a buffer on the stack of each poll
//! ([`read_staged`](super::read_staged)): bytes stay on the heap only from
//! a read until the caller has taken them, so an idle stream holds no
//! buffer at all.
//!
//! The body is framed as RFC 9112 §6.3 says: `Transfer-Encoding: chunked`
//! (extensions and trailers skipped), `Content-Length`, up to the end of
//! the connection, or none (`204`, `304`). Its end (a last chunk, the
//! length reached, the connection closed) is [`None`] from
//! [`Body::data`], as hyper's body ends; a connection closed inside a
//! chunk or before the length is `eof`, as hyper reported it; a malformed
//! chunk line is `protocol`, as in the poll client. `1xx` answers are
//! skipped; a `101` is `protocol`.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{parse_head, read_more, read_staged, Framing, EOF, MAX_CHUNK_LINE, MAX_HEAD, PROTOCOL};
use crate::core::error::{io_kind, Kind};
use crate::proto::decode::Coding;

/// What the caller needs of a streamed answer's head.
#[derive(Debug)]
pub(crate) struct StreamHead {
    /// The status code.
    pub status: u16,
    /// `Retry-After` of a `429` / `503`, bounded.
    pub retry_after: Option<std::time::Duration>,
    /// The body's `Content-Encoding`.
    pub coding: Result<Coding, Kind>,
}

/// Where the body's framing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `Content-Length` or chunk bytes still to come.
    Data(u64),
    /// The `\r\n` after a chunk's data.
    ChunkEnd,
    /// A chunk-size line.
    ChunkSize,
    /// Trailer lines up to an empty one (after the last chunk).
    Trailers,
    /// Everything up to the end of the connection.
    ToEof,
    /// The body has ended.
    Done,
}

/// A streamed answer's body, read from the subscriber's own task.
/// Dropping it closes the connection.
pub(crate) struct Body<S> {
    io: S,
    /// Read and not yet handed out: empty (no allocation) while idle.
    buf: BytesMut,
    chunked: bool,
    state: State,
    /// Trailer bytes so far (bounded like a head).
    trailers: usize,
}

/// Writes `request` (a whole GET) on `io` and reads the answer's head,
/// skipping `1xx` answers; the body follows through [`Body::data`].
pub(crate) async fn open<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    request: &[u8],
) -> Result<(StreamHead, Body<S>), Kind> {
    io.write_all(request).await.map_err(|e| io_kind(&e))?;
    io.flush().await.map_err(|e| io_kind(&e))?;
    let mut buf = BytesMut::new();
    let head = loop {
        let head = loop {
            if !buf.is_empty() {
                if let Some(h) = parse_head(&buf)? {
                    break h;
                }
            }
            read_more(&mut io, &mut buf, 0).await?;
        };
        buf.advance(head.len);
        if head.status >= 200 {
            break head;
        }
    };
    let (chunked, state) = match head.framing {
        Framing::Empty => (false, State::Done),
        Framing::Length(0) => (false, State::Done),
        Framing::Length(n) => (false, State::Data(n)),
        Framing::Chunked => (true, State::ChunkSize),
        Framing::ToEof => (false, State::ToEof),
    };
    if buf.is_empty() {
        buf = BytesMut::new();
    }
    let body = Body {
        io,
        buf,
        chunked,
        state,
        trailers: 0,
    };
    let head = StreamHead {
        status: head.status,
        retry_after: head.retry_after,
        coding: head.coding,
    };
    Ok((head, body))
}

impl<S: AsyncRead + Unpin> Body<S> {
    /// The next piece of the body (chunk boundaries and read sizes are not
    /// kept); `None` once it has ended.
    pub async fn data(&mut self) -> Option<Result<Bytes, Kind>> {
        loop {
            match self.step() {
                Ok(Some(d)) => return Some(Ok(d)),
                Ok(None) if self.state == State::Done => return None,
                Ok(None) => {}
                Err(kind) => {
                    self.state = State::Done;
                    return Some(Err(kind));
                }
            }
            if self.buf.is_empty() {
                // Nothing held while the stream waits.
                self.buf = BytesMut::new();
            }
            match read_staged(&mut self.io, &mut self.buf).await {
                Ok(0) if self.state == State::ToEof => {
                    self.state = State::Done;
                    return None;
                }
                Ok(0) => {
                    self.state = State::Done;
                    return Some(Err(EOF));
                }
                Ok(_) => {}
                Err(e) => {
                    self.state = State::Done;
                    return Some(Err(io_kind(&e)));
                }
            }
        }
    }

    /// Moves on through what is buffered: data to hand out, or `None`
    /// when more must be read (or the body has ended).
    fn step(&mut self) -> Result<Option<Bytes>, Kind> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::ToEof => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(self.buf.split().freeze()));
                }
                State::Data(left) => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let n = (self.buf.len() as u64).min(left);
                    let d = self.buf.split_to(n as usize).freeze();
                    self.state = match (left - n, self.chunked) {
                        (0, true) => State::ChunkEnd,
                        (0, false) => State::Done,
                        (rest, _) => State::Data(rest),
                    };
                    return Ok(Some(d));
                }
                State::ChunkEnd => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(PROTOCOL);
                    }
                    self.buf.advance(2);
                    self.state = State::ChunkSize;
                }
                State::ChunkSize => match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((line, size))) => {
                        self.buf.advance(line);
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() <= MAX_CHUNK_LINE => {
                        return Ok(None)
                    }
                    _ => return Err(PROTOCOL),
                },
                State::Trailers => match self.buf.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        self.buf.advance(2);
                        self.state = State::Done;
                    }
                    Some(n) => {
                        self.trailers += n + 2;
                        self.buf.advance(n + 2);
                        if self.trailers > MAX_HEAD {
                            return Err(PROTOCOL);
                        }
                    }
                    None if self.trailers + self.buf.len() > MAX_HEAD => return Err(PROTOCOL),
                    None => return Ok(None),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    /// Everything the body hands out, joined, and how it ended.
    async fn drain<S: AsyncRead + Unpin>(body: &mut Body<S>) -> (Vec<u8>, Option<Kind>) {
        let mut got = Vec::new();
        loop {
            match body.data().await {
                None => return (got, None),
                Some(Ok(d)) => got.extend_from_slice(&d),
                Some(Err(k)) => return (got, Some(k)),
            }
        }
    }

    /// Opens a stream against a server that sends `answer` in pieces of
    /// `piece` bytes and then closes; returns what the server read, the
    /// head and the body.
    async fn against(
        answer: &'static [u8],
        piece: usize,
    ) -> (Vec<u8>, StreamHead, Vec<u8>, Option<Kind>) {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let srv = tokio::spawn(async move {
            let mut req = vec![0u8; 4];
            server.read_exact(&mut req).await.unwrap();
            for p in answer.chunks(piece) {
                server.write_all(p).await.unwrap();
                tokio::task::yield_now().await;
            }
            drop(server);
            req
        });
        let (head, mut body) = open(client, b"GET ").await.unwrap();
        let (data, end) = drain(&mut body).await;
        (srv.await.unwrap(), head, data, end)
    }

    #[tokio::test]
    async fn chunked_bodies_are_joined_whatever_the_read_sizes() {
        const ANSWER: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nid: 1\r\n1a\r\n\ndata: hello\n\nid: 2\ndata: \r\n0\r\nx-trailer: 1\r\n\r\n";
        for piece in [1, 2, 3, 7, 64, 4096] {
            let (req, head, data, end) = against(ANSWER, piece).await;
            assert_eq!(req, b"GET ");
            assert_eq!(head.status, 200);
            assert_eq!(
                data, b"id: 1\ndata: hello\n\nid: 2\ndata: ",
                "piece {piece}"
            );
            assert_eq!(end, None, "the last chunk ends the body (piece {piece})");
        }
    }

    #[tokio::test]
    async fn a_cut_inside_a_chunk_or_a_length_is_eof() {
        let (_, _, data, end) = against(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\nabc",
            4,
        )
        .await;
        assert_eq!((data.as_slice(), end), (&b"abc"[..], Some(EOF)));
        let (_, _, data, end) =
            against(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", 5).await;
        assert_eq!((data.as_slice(), end), (&b"abc"[..], Some(EOF)));
    }

    #[tokio::test]
    async fn lengths_end_bodies_and_so_does_the_end_of_the_connection() {
        let (_, _, data, end) =
            against(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc", 2).await;
        assert_eq!((data.as_slice(), end), (&b"abc"[..], None));
        let (_, _, data, end) = against(b"HTTP/1.1 200 OK\r\n\r\ndata: x\n\n", 3).await;
        assert_eq!((data.as_slice(), end), (&b"data: x\n\n"[..], None));
        let (_, head, data, end) = against(b"HTTP/1.1 204 No Content\r\n\r\n", 100).await;
        assert_eq!((head.status, data.len(), end), (204, 0, None));
    }

    #[tokio::test]
    async fn refusals_carry_retry_after_and_bad_framing_is_protocol() {
        let (_, head, _, _) = against(
            b"HTTP/1.1 503 Busy\r\nretry-after: 3\r\ncontent-length: 0\r\n\r\n",
            100,
        )
        .await;
        assert_eq!(head.status, 503);
        assert_eq!(head.retry_after, Some(std::time::Duration::from_secs(3)));
        let (_, _, _, end) = against(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            100,
        )
        .await;
        assert_eq!(end, Some(PROTOCOL));
        let (_, _, _, end) = against(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\naXY",
            100,
        )
        .await;
        assert_eq!(end, Some(PROTOCOL));
    }

    #[tokio::test]
    async fn an_idle_stream_holds_no_read_buffer() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        server
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
            .await
            .unwrap();
        let (_, mut body) = open(client, b"GET ").await.unwrap();
        assert_eq!(&body.data().await.unwrap().unwrap()[..], b"abc");
        // Nothing more has arrived: the next read waits, holding nothing.
        assert!(futures_util::FutureExt::now_or_never(body.data()).is_none());
        assert_eq!(body.buf.capacity(), 0);
        server.write_all(b"2\r\nde\r\n").await.unwrap();
        assert_eq!(&body.data().await.unwrap().unwrap()[..], b"de");
    }
}
