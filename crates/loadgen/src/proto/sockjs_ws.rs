//! A SockJS session over a WebSocket of any stream, as publishers open one:
//! wait for the `o` frame, then run the `--on-connect` steps as SockJS
//! messages. (Subscribers, which also speak the xhr transports, have their
//! own loop in `roles::subscribe::sockjs`.)

use std::borrow::Cow;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::config::plan::SOCKJS_MIN_FRAME as MIN_FRAME;
use crate::config::template::{Step, Vars};
use crate::core::error::Kind;
use crate::proto::sockjs::{self, Frame};
use crate::proto::ws::ws_kind;

/// The next SockJS frame on `ws`.
async fn next_frame<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> Result<Frame, Kind> {
    loop {
        match ws.next().await {
            None => return Err(Cow::Borrowed("eof")),
            Some(Err(e)) => return Err(ws_kind(&e)),
            Some(Ok(Message::Text(t))) => {
                if t.len() > MIN_FRAME {
                    return Err(sockjs::TOO_LARGE);
                }
                return sockjs::parse(t.as_str());
            }
            Some(Ok(Message::Binary(_))) => return Err(sockjs::BAD_FRAME),
            Some(Ok(Message::Close(_))) => return Err(Cow::Borrowed("eof")),
            Some(Ok(_)) => {}
        }
    }
}

/// Waits (within `timeout`) for the session's `o` frame, then runs `steps`
/// as the connection of `vars`: `send:` as a one-message array, `expect:` until a
/// message contains the text. Error kinds as for WebSocket steps
/// (`on_connect_expect_timeout`, ...), or `sockjs_closed_<code>`.
pub(crate) async fn open<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    steps: &[Step],
    vars: &Vars<'_>,
    timeout: Duration,
) -> Result<(), Kind> {
    let opened = async {
        loop {
            match next_frame(ws).await? {
                Frame::Open => return Ok(()),
                Frame::Heartbeat => {}
                Frame::Close { code, .. } => return Err(Frame::close_kind(code)),
                Frame::Messages(_) => return Err(Cow::Borrowed("sockjs_not_opened")),
            }
        }
    };
    tokio::time::timeout(timeout, opened)
        .await
        .unwrap_or(Err(Cow::Borrowed("sockjs_open_timeout")))?;
    for step in steps {
        match step {
            Step::Send(t) => {
                let frame = Message::text(sockjs::encode(&[&t.render(vars, "")]));
                tokio::time::timeout(timeout, ws.send(frame))
                    .await
                    .unwrap_or(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed))
                    .map_err(|e| Cow::Owned(format!("on_connect_send_{}", ws_kind(&e))))?;
            }
            Step::Expect(t) => {
                let want = t.render(vars, "");
                let wait = async {
                    loop {
                        match next_frame(ws).await? {
                            Frame::Messages(m) if m.iter().any(|m| m.contains(&want)) => {
                                return Ok(())
                            }
                            Frame::Close { code, .. } => return Err(Frame::close_kind(code)),
                            _ => {}
                        }
                    }
                };
                tokio::time::timeout(timeout, wait)
                    .await
                    .unwrap_or(Err(Cow::Borrowed("timeout")))
                    .map_err(|k| Cow::Owned(format!("on_connect_expect_{k}")))?;
            }
        }
    }
    Ok(())
}
