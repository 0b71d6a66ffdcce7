//! Where Engine.IO requests go on the target (the polling path and the
//! WebSocket URL of a session), what a connection says first (its connect
//! packet with namespace and auth) and its `--on-connect` steps over a
//! WebSocket. The packets themselves are [`pushpoll_wire::engineio`].

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pushpoll_wire::engineio::{self, Packet};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::config::plan::{SocketIoPlan, Target};
use crate::config::template::{Step, Vars};
use crate::core::error::Kind;
use crate::proto::ws::ws_kind;

/// Path and query of an Engine.IO request on `target`.
pub(crate) fn path(target: &Target, vars: &Vars<'_>, transport: &str, sid: Option<&str>) -> String {
    match sid {
        None => target.path_with(vars, &format!("EIO=4&transport={transport}")),
        Some(sid) => target.path_with(vars, &format!("EIO=4&transport={transport}&sid={sid}")),
    }
}

/// The `ws://` URL of the WebSocket transport on `target`.
pub(crate) fn ws_url(target: &Target, vars: &Vars<'_>, sid: Option<&str>) -> String {
    let scheme = if target.url.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    format!(
        "{scheme}://{}{}",
        target.authority,
        path(target, vars, "websocket", sid)
    )
}

/// The connect packet of the connection `vars` describes: its namespace,
/// and its `--socketio-auth` object.
pub(crate) fn connect_packet(sio: &SocketIoPlan, vars: &Vars<'_>) -> String {
    let auth = sio.auth.as_ref().map(|t| t.render(vars, ""));
    engineio::connect_to(&sio.namespace, auth.as_deref())
}

/// Runs the `--on-connect` steps on a connected Socket.IO session over a
/// WebSocket: `send:` emits its event array in the namespace, `expect:`
/// waits for a packet containing its text (answering pings meanwhile).
/// Errors are named as for plain WebSocket steps.
pub(crate) async fn ws_steps<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    steps: &[Step],
    vars: &Vars<'_>,
    sio: &SocketIoPlan,
    timeout: Duration,
) -> Result<(), Kind> {
    for step in steps {
        match step {
            Step::Send(t) => {
                let packet = engineio::emit_array(&sio.namespace, &t.render(vars, ""));
                match tokio::time::timeout(timeout, ws.send(Message::text(packet))).await {
                    Err(_) => return Err(Kind::Borrowed("on_connect_send_timeout")),
                    Ok(Err(e)) => {
                        return Err(Kind::Owned(format!("on_connect_send_{}", ws_kind(&e))))
                    }
                    Ok(Ok(())) => {}
                }
            }
            Step::Expect(t) => {
                let want = t.render(vars, "");
                let wait = async {
                    loop {
                        let text = match ws.next().await {
                            None => return Err(Kind::Borrowed("on_connect_eof")),
                            Some(Err(e)) => {
                                return Err(Kind::Owned(format!(
                                    "on_connect_expect_{}",
                                    ws_kind(&e)
                                )))
                            }
                            Some(Ok(Message::Close(_))) => {
                                return Err(Kind::Borrowed("on_connect_closed"))
                            }
                            Some(Ok(Message::Text(t))) => t,
                            Some(Ok(_)) => continue,
                        };
                        match engineio::packet(text.as_str()) {
                            Packet::Ping(d) => {
                                ws.send(Message::text(engineio::pong(d)))
                                    .await
                                    .map_err(|e| {
                                        Kind::Owned(format!("on_connect_expect_{}", ws_kind(&e)))
                                    })?;
                            }
                            Packet::Message(m) if m.contains(&want) => return Ok(()),
                            Packet::Close => return Err(Kind::Borrowed("on_connect_closed")),
                            _ => {}
                        }
                    }
                };
                tokio::time::timeout(timeout, wait)
                    .await
                    .unwrap_or(Err(Kind::Borrowed("on_connect_expect_timeout")))?;
            }
        }
    }
    Ok(())
}
