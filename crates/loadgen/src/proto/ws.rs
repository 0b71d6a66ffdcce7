//! What every generator WebSocket shares, subscriber, publisher or
//! Autobahn client: its configuration, its handshake request, and how its
//! errors are named.

use std::borrow::Cow;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use http::HeaderValue;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::config::headers::RequestKind;
use crate::config::opts::WsSubprotocol;
use crate::config::plan::Plan;
use crate::config::template::{Step, Vars};
use crate::core::error::{io_kind, Kind};

/// Read chunk of each subscriber connection: small, as there may be very many.
const READ_BUFFER: usize = 8 << 10;
/// tungstenite's read buffer on subscriber connections, which read through
/// [`pushpoll_netio::SpareRead`]: each socket read goes to a buffer on the
/// stack, and only what tungstenite has not taken yet stays on the heap.
/// tungstenite fills its whole read buffer with zeros before each read,
/// so an 8 KiB one was 8 KiB resident per idle subscriber.
const SPARE_READ_BUFFER: usize = 128;
/// Largest frame or message accepted from the server.
pub(crate) const MAX_MESSAGE: usize = 16 << 20;

/// The configuration of every generator WebSocket: small buffers, bounded
/// messages, frames written as soon as they are sent.
pub(crate) fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// [`config`] for subscriber connections, whose stream is a
/// [`SpareRead`](pushpoll_netio::SpareRead): a read buffer of
/// [`SPARE_READ_BUFFER`] bytes.
pub(crate) fn subscriber_config() -> WebSocketConfig {
    config().read_buffer_size(SPARE_READ_BUFFER)
}

/// The opening handshake's request: `url` with the extra headers of the
/// connection `vars` describes, asking for `protocol` if any, else for the
/// generic `--subprotocol`s.
pub(crate) fn request(
    url: &str,
    protocol: Option<WsSubprotocol>,
    plan: &Plan,
    vars: &Vars<'_>,
) -> Result<Request, WsError> {
    let mut req = url.into_client_request()?;
    let h = req.headers_mut();
    for (n, v) in plan.profile.headers(RequestKind::WebSocket) {
        h.append(n, v.clone());
    }
    for (n, v) in plan.extra_headers(vars) {
        h.append(n, v);
    }
    let asked = match protocol {
        Some(p) => Some(HeaderValue::from_static(p.token())),
        None if plan.subprotocols.is_empty() => None,
        // Tokens were checked when the plan was made.
        None => HeaderValue::from_str(&plan.subprotocols.join(", ")).ok(),
    };
    if let Some(v) = asked {
        h.insert(http::header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    Ok(req)
}

/// The kind of a WebSocket error.
pub(crate) fn ws_kind(e: &tokio_tungstenite::tungstenite::Error) -> Kind {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::Error as W;
    match e {
        W::ConnectionClosed | W::AlreadyClosed => Cow::Borrowed("eof"),
        W::Io(io) if crate::proto::deflate::is_deflate_error(io) => Cow::Borrowed("deflate"),
        W::Io(io) => io_kind(io),
        W::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Cow::Borrowed("eof"),
        W::Http(resp) => Cow::Owned(format!("bad_status_{}", resp.status().as_u16())),
        _ => Cow::Borrowed("protocol"),
    }
}

/// Runs the `--on-connect` steps on a fresh WebSocket, as the connection `vars` describes,
/// each within `timeout`. Frames the server sends meanwhile are read and
/// dropped (they come before any message of the run). The error kind names
/// the step that failed: `on_connect_send_<kind>`, `on_connect_expect_timeout`,
/// `on_connect_expect_<kind>`, `on_connect_closed`, `on_connect_eof`.
pub(crate) async fn run_steps<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    steps: &[Step],
    vars: &Vars<'_>,
    timeout: Duration,
) -> Result<(), Kind> {
    for step in steps {
        match step {
            Step::Send(t) => {
                let frame = Message::text(t.render(vars, ""));
                match tokio::time::timeout(timeout, ws.send(frame)).await {
                    Err(_) => return Err(Cow::Borrowed("on_connect_send_timeout")),
                    Ok(Err(e)) => {
                        return Err(Cow::Owned(format!("on_connect_send_{}", ws_kind(&e))))
                    }
                    Ok(Ok(())) => {}
                }
            }
            Step::Expect(t) => {
                let want = t.render(vars, "");
                let wait = async {
                    loop {
                        match ws.next().await {
                            None => return Err(Cow::Borrowed("on_connect_eof")),
                            Some(Err(e)) => {
                                return Err(Cow::Owned(format!(
                                    "on_connect_expect_{}",
                                    ws_kind(&e)
                                )))
                            }
                            Some(Ok(Message::Text(text))) if text.as_str().contains(&want) => {
                                return Ok(())
                            }
                            Some(Ok(Message::Binary(b)))
                                if b.windows(want.len()).any(|w| w == want.as_bytes()) =>
                            {
                                return Ok(())
                            }
                            Some(Ok(Message::Close(_))) => {
                                return Err(Cow::Borrowed("on_connect_closed"))
                            }
                            Some(Ok(_)) => {}
                        }
                    }
                };
                tokio::time::timeout(timeout, wait)
                    .await
                    .unwrap_or(Err(Cow::Borrowed("on_connect_expect_timeout")))?;
            }
        }
    }
    Ok(())
}

/// Bytes a handshake read takes at most (tungstenite reads its answer in
/// 4 KiB pieces).
const HEAD_READ: usize = 4 << 10;

/// A stream that hands tungstenite's handshake the answer's head and
/// nothing after it; what followed in the same read (a first frame) is
/// kept here and handed out first afterwards. tungstenite keeps its
/// handshake's 4 KiB read buffer (touched, so resident) as the
/// connection's own; with nothing of the connection's in it, the caller
/// can take the stream back ([`WebSocketStream::into_inner`]) and rebuild
/// the connection around it with a small one, losing no byte.
///
/// The head ends at the first empty line, `\n\n` or `\n\r\n` (where
/// httparse, tungstenite's parser, ends it). Writes pass through.
#[derive(Debug)]
pub(crate) struct HeadFirst<S> {
    inner: S,
    /// Read past the head, not yet handed out (empty once taken).
    rest: Vec<u8>,
    taken: usize,
    /// 0: in a line; 1: after `\n`; 2: after `\n\r`; 3: the head has ended.
    scan: u8,
}

impl<S> HeadFirst<S> {
    /// Wraps `inner`, before the handshake's request is written.
    pub(crate) fn new(inner: S) -> Self {
        HeadFirst {
            inner,
            rest: Vec::new(),
            taken: 0,
            scan: 0,
        }
    }

    /// How many of `bytes` belong to the head (all of them if it goes on).
    fn head_part(&mut self, bytes: &[u8]) -> usize {
        for (i, &b) in bytes.iter().enumerate() {
            self.scan = match (self.scan, b) {
                (1 | 2, b'\n') => {
                    self.scan = 3;
                    return i + 1;
                }
                (1, b'\r') => 2,
                (_, b'\n') => 1,
                _ => 0,
            };
        }
        bytes.len()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadFirst<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.taken < this.rest.len() {
            let n = (this.rest.len() - this.taken).min(buf.remaining());
            buf.put_slice(&this.rest[this.taken..this.taken + n]);
            this.taken += n;
            if this.taken == this.rest.len() {
                this.rest = Vec::new();
                this.taken = 0;
            }
            return std::task::Poll::Ready(Ok(()));
        }
        if this.scan == 3 {
            return std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let mut staging = [std::mem::MaybeUninit::<u8>::uninit(); HEAD_READ];
        let limit = buf.remaining().min(HEAD_READ);
        let mut staged = tokio::io::ReadBuf::uninit(&mut staging[..limit]);
        std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut staged))?;
        let got = staged.filled();
        let head = this.head_part(got);
        buf.put_slice(&got[..head]);
        if head < got.len() {
            this.rest = got[head..].to_vec();
            this.taken = 0;
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadFirst<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn the_head_comes_alone_and_what_follows_is_not_lost() {
        for (answer, head) in [
            (
                &b"HTTP/1.1 101 S\r\nUpgrade: websocket\r\n\r\n\x82\x01z"[..],
                38,
            ),
            (&b"HTTP/1.1 101 S\nUpgrade: websocket\n\n\x82\x01z"[..], 35),
        ] {
            assert_eq!(&answer[head..], b"\x82\x01z");
            for piece in [1, 2, 5, 100] {
                let (client, mut server) = tokio::io::duplex(1024);
                let mut s = HeadFirst::new(client);
                let writer = tokio::spawn(async move {
                    for p in answer.chunks(piece) {
                        server.write_all(p).await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    server
                });
                let mut got = Vec::new();
                let mut chunk = [0u8; 4096];
                while got.len() < head {
                    let n = s.read(&mut chunk).await.unwrap();
                    assert!(n > 0);
                    got.extend_from_slice(&chunk[..n]);
                }
                assert_eq!(
                    got,
                    &answer[..head],
                    "no byte past the head (piece {piece})"
                );
                let mut rest = [0u8; 3];
                s.read_exact(&mut rest).await.unwrap();
                assert_eq!(&rest, b"\x82\x01z");
                drop(writer.await.unwrap());
            }
        }
    }
}
