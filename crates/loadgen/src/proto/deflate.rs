//! permessage-deflate (RFC 7692) for WebSocket subscribers (`--ws-deflate`),
//! as a stream layer under tungstenite, which has no extension support.
//!
//! [`Deflate`] sits between the byte-counting stream and tungstenite, so the
//! socket counters still see the compressed bytes (the point of measuring
//! it). It passes the opening handshake through, reads the `101` response
//! head to learn whether the server accepted `permessage-deflate` (and
//! whether it keeps its compression context across messages), and from then
//! on parses server→client frames: a message whose first frame has RSV1 set
//! is inflated (payload + `00 00 ff ff`, RFC 7692 §7.2.2; a fragmented
//! message is inflated whole) and handed to tungstenite as one uncompressed
//! frame with RSV1 clear. Everything else passes unchanged, and so does all
//! that the client writes (an uncompressed message is always allowed).
//!
//! An inflated message is bounded by the generator's largest message: more
//! is a [`DeflateError`], which the subscriber counts as a `deflate` error.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use flate2::{Decompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, ReadBuf};

/// The extension offer of `--ws-deflate`: no context takeover either way,
/// so every message inflates on its own.
pub(crate) const OFFER: &str =
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover";

/// Largest response head read before giving up on the handshake.
const MAX_HEAD: usize = 16 << 10;
/// Read chunk from the socket.
const CHUNK: usize = 8 << 10;

/// A compressed message that could not be inflated, or inflated past the
/// limit (a zip bomb).
#[derive(Debug, thiserror::Error)]
#[error("permessage-deflate: {0}")]
pub(crate) struct DeflateError(pub &'static str);

fn deflate_error(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, DeflateError(what))
}

/// Whether an I/O error came from this layer (counted as `deflate`).
pub(crate) fn is_deflate_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<DeflateError>())
}

/// What the server's `Sec-WebSocket-Extensions` answer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Negotiated {
    /// permessage-deflate is on.
    pub deflate: bool,
    /// The server resets its context after every message.
    pub server_no_context_takeover: bool,
}

/// Reads the extensions a `101` response head accepted.
pub(crate) fn negotiated(head: &[u8]) -> Negotiated {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let switching = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .is_some_and(|code| code == "101");
    let mut n = Negotiated::default();
    if !switching {
        return n;
    }
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("sec-websocket-extensions") {
            continue;
        }
        for ext in value.split(',') {
            let mut params = ext.split(';').map(str::trim);
            if params
                .next()
                .is_some_and(|e| e.eq_ignore_ascii_case("permessage-deflate"))
            {
                n.deflate = true;
                n.server_no_context_takeover =
                    params.any(|p| p.eq_ignore_ascii_case("server_no_context_takeover"));
                return n;
            }
        }
    }
    n
}

/// Where the layer stands.
#[derive(Debug)]
enum Phase {
    /// Waiting for the end of the response head.
    Head,
    /// Parsing frames (permessage-deflate accepted).
    Frames,
    /// Passing bytes through (off, or declined by the server).
    Through,
}

/// A stream that inflates permessage-deflate messages from the server.
pub(crate) struct Deflate<S> {
    inner: S,
    phase: Phase,
    /// Bytes read from `inner`, not yet parsed.
    input: Vec<u8>,
    /// Bytes ready for the reader (tungstenite), from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// The compressed message being gathered: its opcode and payload.
    message: Option<(u8, Vec<u8>)>,
    /// One context across messages when the server keeps its own.
    context: Option<Decompress>,
    max: usize,
    /// Set to 1 when the server accepted permessage-deflate.
    flag: Option<Arc<AtomicU64>>,
}

impl<S> Deflate<S> {
    /// Off: every byte passes through.
    pub fn off(inner: S) -> Self {
        Self::with_phase(inner, Phase::Through, usize::MAX, None)
    }

    /// On: the handshake's answer decides; inflated messages are bounded by
    /// `max` bytes; `flag` is set to 1 if the server accepted.
    pub fn on(inner: S, max: usize, flag: Arc<AtomicU64>) -> Self {
        Self::with_phase(inner, Phase::Head, max, Some(flag))
    }

    fn with_phase(inner: S, phase: Phase, max: usize, flag: Option<Arc<AtomicU64>>) -> Self {
        Deflate {
            inner,
            phase,
            input: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            message: None,
            context: None,
            max,
            flag,
        }
    }

    /// Moves what `input` holds forward: the head once complete, then
    /// every complete frame.
    fn process(&mut self) -> io::Result<()> {
        if let Phase::Head = self.phase {
            let Some(end) = self.input.windows(4).position(|w| w == b"\r\n\r\n") else {
                if self.input.len() > MAX_HEAD {
                    return Err(deflate_error("response head too large"));
                }
                return Ok(());
            };
            let head: Vec<u8> = self.input.drain(..end + 4).collect();
            let n = negotiated(&head);
            self.out.extend_from_slice(&head);
            if n.deflate {
                if let Some(f) = &self.flag {
                    f.store(1, Relaxed);
                }
                if !n.server_no_context_takeover {
                    self.context = Some(Decompress::new(false));
                }
                self.phase = Phase::Frames;
            } else {
                self.phase = Phase::Through;
                let rest = std::mem::take(&mut self.input);
                self.out.extend_from_slice(&rest);
                return Ok(());
            }
        }
        if let Phase::Frames = self.phase {
            let mut at = 0;
            while let Some(frame) = parse(&self.input[at..], self.max)? {
                let raw = &self.input[at..at + frame.len];
                let payload = &raw[frame.header..];
                match handle(
                    &frame,
                    payload,
                    &mut self.message,
                    &mut self.context,
                    self.max,
                )? {
                    Some(bytes) => self.out.extend_from_slice(&bytes),
                    None => self.out.extend_from_slice(raw),
                }
                at += frame.len;
            }
            self.input.drain(..at);
        }
        Ok(())
    }
}

/// One frame's header, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    /// Header bytes (mask key included).
    pub header: usize,
    /// Header + payload bytes.
    pub len: usize,
}

/// Parses the frame at the start of `buf`: `None` until it is complete.
/// A payload longer than `max` is an error (tungstenite's limit is the same).
pub(crate) fn parse(buf: &[u8], max: usize) -> io::Result<Option<Frame>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let masked = b1 & 0x80 != 0;
    let (len, mut header) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if masked {
        header += 4;
    }
    if len > max as u64 {
        return Err(deflate_error("frame larger than the largest message"));
    }
    let total = header + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(Frame {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        opcode: b0 & 0x0f,
        header,
        len: total,
    }))
}

/// Deals with one frame: returns the bytes to emit in its place (an
/// inflated message, or nothing while a compressed one is gathered), or
/// `None` when the frame passes through as it is.
fn handle(
    frame: &Frame,
    payload: &[u8],
    message: &mut Option<(u8, Vec<u8>)>,
    context: &mut Option<Decompress>,
    max: usize,
) -> io::Result<Option<Vec<u8>>> {
    let control = frame.opcode & 0x08 != 0;
    let masked = frame.header == 6 || frame.header == 8 || frame.header == 14;
    if control || masked {
        // Control frames may come between fragments; a masked server frame
        // is left for tungstenite to refuse.
        return Ok(None);
    }
    if frame.opcode != 0 && frame.rsv1 {
        if message.is_some() {
            return Err(deflate_error("new message inside a fragmented one"));
        }
        let mut m = (frame.opcode, payload.to_vec());
        if frame.fin {
            let body = inflate(&m.1, context, max)?;
            m.1.clear();
            return Ok(Some(encode(m.0, &body)));
        }
        *message = Some(m);
        return Ok(Some(Vec::new()));
    }
    if frame.opcode == 0 {
        if let Some((opcode, gathered)) = message.as_mut() {
            if gathered.len() + payload.len() > max {
                return Err(deflate_error("message larger than the largest message"));
            }
            gathered.extend_from_slice(payload);
            if !frame.fin {
                return Ok(Some(Vec::new()));
            }
            let opcode = *opcode;
            let body = inflate(gathered, context, max)?;
            *message = None;
            return Ok(Some(encode(opcode, &body)));
        }
    }
    Ok(None)
}

/// Inflates one message's payload (RFC 7692 §7.2.2: the `00 00 ff ff`
/// the sender removed goes back on), at most `max` bytes.
pub(crate) fn inflate(
    payload: &[u8],
    context: &mut Option<Decompress>,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut fresh;
    let d = match context {
        Some(d) => d,
        None => {
            fresh = Decompress::new(false);
            &mut fresh
        }
    };
    let mut input = Vec::with_capacity(payload.len() + 4);
    input.extend_from_slice(payload);
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut rest = &input[..];
    let mut out = Vec::with_capacity(payload.len() * 4);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let (in0, out0) = (d.total_in(), d.total_out());
        let status = d
            .decompress(rest, &mut chunk, FlushDecompress::Sync)
            .map_err(|_| deflate_error("corrupt compressed message"))?;
        let used = (d.total_in() - in0) as usize;
        let made = (d.total_out() - out0) as usize;
        rest = &rest[used..];
        if out.len() + made > max {
            return Err(deflate_error(
                "inflated message larger than the largest message",
            ));
        }
        out.extend_from_slice(&chunk[..made]);
        if status == Status::StreamEnd {
            // The sender ended its stream: the next message starts afresh.
            d.reset(false);
            break;
        }
        if (rest.is_empty() && made < chunk.len()) || (used == 0 && made == 0) {
            break;
        }
    }
    Ok(out)
}

/// An unmasked, unfragmented frame with RSV1 clear carrying `payload`.
pub(crate) fn encode(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=65_535 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = (this.out.len() - this.out_pos).min(buf.remaining());
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if let Phase::Through = this.phase {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let start = this.input.len();
            this.input.resize(start + CHUNK, 0);
            let mut rb = ReadBuf::new(&mut this.input[start..]);
            let r = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.input.truncate(start + n);
            match r {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if n == 0 => {
                    // End of stream: whatever is half-parsed is dropped, as a
                    // cut connection loses it anyway.
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(())) => this.process()?,
            }
        }
    }
}

// Reads are this wrapper's job; writes go straight to the socket.
pushpoll_netio::write_through!(Deflate);

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    /// Compresses `data` as one permessage-deflate message (tail removed).
    fn compress(data: &[u8]) -> Vec<u8> {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 64);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    }

    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = encode(b0 & 0x0f, payload);
        f[0] = b0;
        f
    }

    #[test]
    fn length_encodings_7_16_64() {
        for (n, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let f = encode(2, &vec![7u8; n]);
            let p = parse(&f, usize::MAX).unwrap().unwrap();
            assert_eq!(
                (p.header, p.len, p.opcode, p.fin, p.rsv1),
                (header, f.len(), 2, true, false)
            );
            assert_eq!(parse(&f[..f.len() - 1], usize::MAX).unwrap(), None);
            assert_eq!(parse(&f[..header.min(3) - 1], usize::MAX).unwrap(), None);
        }
        assert!(parse(&encode(2, &[0u8; 200]), 100).is_err());
    }

    #[test]
    fn the_offer_and_answers_are_read() {
        let h = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=15\r\n\r\n";
        assert_eq!(
            negotiated(h),
            Negotiated {
                deflate: true,
                server_no_context_takeover: true
            }
        );
        let h = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        assert!(negotiated(h).deflate && !negotiated(h).server_no_context_takeover);
        assert!(!negotiated(b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n").deflate);
        assert!(
            !negotiated(
                b"HTTP/1.1 400 Bad\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            )
            .deflate
        );
    }

    /// Runs `bytes` (after a head accepting the extension) through the layer.
    async fn through(bytes: &[u8], takeover: bool) -> io::Result<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let head: &[u8] = if takeover {
            b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        } else {
            b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
        };
        let mut all = head.to_vec();
        all.extend_from_slice(bytes);
        let flag = Arc::new(AtomicU64::new(0));
        let mut d = Deflate::on(&all[..], 1 << 20, flag.clone());
        let mut out = Vec::new();
        d.read_to_end(&mut out).await?;
        assert_eq!(flag.load(Relaxed), 1);
        assert!(out.starts_with(head));
        Ok(out[head.len()..].to_vec())
    }

    #[tokio::test]
    async fn messages_are_inflated_and_the_rest_passes() {
        let big = "x".repeat(70_000);
        let mut wire = frame(0xc1, &compress(b"hello")); // FIN + RSV1 + text
        wire.extend(frame(0x89, b"p")); // ping passes
        wire.extend(frame(0x82, b"plain")); // uncompressed binary passes
        wire.extend(frame(0xc1, &compress(big.as_bytes())));
        let out = through(&wire, false).await.unwrap();
        let mut want = encode(1, b"hello");
        want.extend(frame(0x89, b"p"));
        want.extend(frame(0x82, b"plain"));
        want.extend(encode(1, big.as_bytes()));
        assert_eq!(out, want);
    }

    #[tokio::test]
    async fn fragments_inflate_together_with_control_frames_between() {
        let z = compress(b"fragmented message");
        let (a, b) = z.split_at(z.len() / 2);
        let mut wire = frame(0x41, a); // RSV1, text, not FIN
        wire.extend(frame(0x89, b"")); // ping in between
        wire.extend(frame(0x80, b)); // continuation, FIN
        let out = through(&wire, false).await.unwrap();
        let mut want = frame(0x89, b"");
        want.extend(encode(1, b"fragmented message"));
        assert_eq!(out, want);
        // Uncompressed fragments pass as they are.
        let mut wire = frame(0x01, b"ab");
        wire.extend(frame(0x80, b"cd"));
        assert_eq!(through(&wire, false).await.unwrap(), wire);
    }

    #[tokio::test]
    async fn a_kept_context_spans_messages() {
        let mut c = Compress::new(Compression::default(), false);
        let mut wire = Vec::new();
        for m in [&b"same words same words"[..], b"same words same words"] {
            let mut z = Vec::with_capacity(128);
            c.compress_vec(m, &mut z, FlushCompress::Sync).unwrap();
            z.truncate(z.len() - 4);
            wire.extend(frame(0xc1, &z));
        }
        let out = through(&wire, true).await.unwrap();
        let mut want = encode(1, b"same words same words");
        want.extend(encode(1, b"same words same words"));
        assert_eq!(out, want);
    }

    #[tokio::test]
    async fn a_zip_bomb_is_an_error() {
        let bomb = compress(&vec![0u8; 4 << 20]);
        let e = through(&frame(0xc2, &bomb), false).await.unwrap_err();
        assert!(is_deflate_error(&e));
        let e = through(&frame(0xc2, b"\xff\xff\xff"), false)
            .await
            .unwrap_err();
        assert!(is_deflate_error(&e));
    }
}
