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
