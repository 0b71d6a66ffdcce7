//! WebSocket subscriber, in one of two modes.
//!
//! - **Plain** (the default): no subprotocol, so it works with any server
//!   that relays frames, the notes' Node `ws` server included. Every text or
//!   binary frame is searched for this run's marker; anything else (other
//!   traffic, control frames) is ignored but its bytes are counted. A cut
//!   connection loses what is sent while it reconnects: a plain client has
//!   no way to say where it stopped.
//! - **`pushpoll.v1`** (`--ws-subprotocol pushpoll.v1`): every server frame
//!   carries the hub's sequence number (`pushpoll_wire::frame`). The
//!   subscriber is ready once the hello frame has told it `last_seq`; it
//!   remembers the last seq it received and reconnects with `?since=SEQ`,
//!   so a cut loses nothing. Gap notices (history no longer holds what was
//!   asked for) are counted as `gap` errors, never silently skipped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use pushpoll_netio::SpareRead;
use pushpoll_wire::frame::{self, V1Frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use url::Url;

use super::{Backoff, Sub};
use crate::config::opts::WsSubprotocol;
use crate::config::plan::Plan;
use crate::config::template::Vars;
use crate::core::error::{Kind, LoadError};
use crate::net::connect::{connect_counted, connect_tcp, SubStream};
use crate::net::count::SubIo;
use crate::proto::deflate::Deflate;
use crate::proto::ws::{config, request, subscriber_config, ws_kind, HeadFirst, MAX_MESSAGE};

/// A subscriber's WebSocket. [`SpareRead`] under tungstenite holds no read
/// buffer while the connection is idle (tungstenite's own is kept small:
/// [`subscriber_config`]); [`HeadFirst`] let the handshake read no further
/// than the answer's head.
pub(crate) type Ws = WebSocketStream<HeadFirst<SpareRead<Deflate<SubStream>>>>;

/// Whether a handshake failed because the server did not select the
/// subprotocol asked for (tungstenite checks the response).
fn subprotocol_refused(e: &WsError) -> bool {
    matches!(
        e,
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol | SubProtocolError::InvalidSubProtocol
        ))
    )
}

/// Performs the opening handshake on `stream` within `timeout`, offering
/// permessage-deflate when `deflate` (subscribers of `--ws-deflate` only:
/// their stream is a [`Deflate`] layer that inflates what the server sends).
#[allow(clippy::too_many_arguments)]
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    url: &str,
    protocol: Option<WsSubprotocol>,
    plan: &Plan,
    vars: &Vars<'_>,
    stream: S,
    config: WebSocketConfig,
    timeout: Duration,
    deflate: bool,
) -> Result<WebSocketStream<S>, Result<WsError, Kind>> {
    let mut req = request(url, protocol, plan, vars).map_err(Ok)?;
    if deflate {
        req.headers_mut().insert(
            http::header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static(crate::proto::deflate::OFFER),
        );
    }
    let handshake = tokio_tungstenite::client_async_with_config(req, stream, Some(config));
    match tokio::time::timeout(timeout, handshake).await {
        Err(_) => Err(Err(Kind::Borrowed("timeout"))),
        Ok(Err(e)) => Err(Ok(e)),
        Ok(Ok((ws, _response))) => Ok(ws),
    }
}

/// Opens a counted connection and performs the opening handshake (one request).
pub(super) async fn connect(
    url: &str,
    plan: &Plan,
    vars: &Vars<'_>,
    addr: SocketAddr,
    io: &Arc<SubIo>,
) -> Result<Ws, Kind> {
    let timeout = plan.timeout;
    let tcp = connect_counted(addr, plan.sub.tls.as_ref(), timeout, io).await?;
    io.wire
        .deflate
        .store(0, std::sync::atomic::Ordering::Relaxed);
    let tcp = if plan.ws_deflate {
        Deflate::on(tcp, MAX_MESSAGE, io.wire.deflate.clone())
    } else {
        Deflate::off(tcp)
    };
    io.request();
    // Boxed: the handshake's future is large, and is needed only until
    // the connection is up.
    let ws = Box::pin(handshake(
        url,
        plan.ws_subprotocol,
        plan,
        vars,
        HeadFirst::new(SpareRead::new(tcp)),
        subscriber_config(),
        timeout,
        plan.ws_deflate,
    ))
    .await
    .map_err(|e| match e {
        Ok(e) if subprotocol_refused(&e) => Kind::Borrowed("no_subprotocol"),
        Ok(e) => ws_kind(&e),
        Err(kind) => kind,
    })?;
    // tungstenite reads the answer into a 4 KiB buffer and keeps that
    // buffer as the connection's (touched, so resident: 4 KiB per idle
    // subscriber). It was given the answer's head alone (what followed
    // waits in `HeadFirst`), so the connection, still fresh (nothing read
    // or written since the handshake), is rebuilt over the same stream
    // with a buffer of the configured size.
    let stream = ws.into_inner();
    Ok(WebSocketStream::from_raw_socket(stream, Role::Client, Some(subscriber_config())).await)
}

/// Before a `pushpoll.v1` run: one uncounted handshake that must select the
/// subprotocol, so a run against a server without it fails at once with a
/// clear error instead of counting a refusal per subscriber. A server that
/// cannot be reached is left to the run, which counts such failures.
pub(crate) async fn check_subprotocol(plan: &Plan, addr: SocketAddr) -> Result<(), LoadError> {
    let Some(protocol) = plan.ws_subprotocol else {
        return Ok(());
    };
    let Ok(tcp) = connect_tcp(addr, plan.timeout).await else {
        return Ok(());
    };
    let Ok(tcp) = crate::net::tls::wrap(tcp, plan.sub.tls.as_ref(), plan.timeout).await else {
        return Ok(());
    };
    match handshake(
        plan.sub.url.as_str(),
        Some(protocol),
        plan,
        &plan.sub_vars(0),
        tcp,
        config(),
        plan.timeout,
        false,
    )
    .await
    {
        Err(Ok(e)) if subprotocol_refused(&e) => Err(LoadError::SubprotocolRefused {
            url: plan.sub.url.to_string(),
            protocol: protocol.token(),
        }),
        Ok(mut ws) => {
            let _ = ws.close(None).await;
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// The URL of a reconnect: `?since=SEQ` when there is a resume point.
fn resume_url(base: &Url, since: Option<u64>) -> String {
    match since {
        None => base.to_string(),
        Some(s) => {
            let mut u = base.clone();
            u.query_pairs_mut().append_pair("since", &s.to_string());
            u.to_string()
        }
    }
}

pub(super) async fn run(sub: &mut Sub) {
    let env = sub.env.clone();
    let protocol = env.plan.ws_subprotocol;
    // pushpoll.v1 only: the last seq received (or the hello's `last_seq`).
    // A rejoin after a churn leave resumes where the last connection was.
    let mut last_seq: Option<u64> = sub.resume_seq;
    let mut backoff = Backoff::new();
    loop {
        let vars = env.plan.sub_vars(sub.idx);
        let url = resume_url(&env.plan.sub.url_for(&vars), last_seq);
        let open = async {
            let mut ws = connect(&url, &env.plan, &vars, env.addr, &sub.io).await?;
            crate::proto::ws::run_steps(&mut ws, &env.plan.steps, &vars, env.plan.timeout).await?;
            if protocol.is_some() {
                let hello = hello(&mut ws, env.plan.timeout).await?;
                // On a resume the hello's last_seq may be past messages still
                // to be replayed: only a first connection starts from it.
                last_seq.get_or_insert(hello);
            }
            Ok::<_, Kind>(ws)
        };
        // Boxed: connecting takes more room than receiving, and only
        // until the connection is up.
        match sub.guard(Box::pin(open)).await {
            None => return,
            Some(Ok(ws)) => {
                sub.resume_seq = last_seq;
                if !sub.ready() {
                    return;
                }
                backoff.reset();
                let kind = match protocol {
                    None => receive_plain(sub, ws).await,
                    Some(_) => receive_v1(sub, ws, &mut last_seq).await,
                };
                sub.error(kind);
            }
            Some(Err(kind)) => {
                if !sub.failed(kind) {
                    return;
                }
            }
        }
        if !sub.pause(&mut backoff, None).await {
            return;
        }
    }
}

/// Waits for the `pushpoll.v1` hello frame, the first the server sends.
async fn hello(ws: &mut Ws, timeout: Duration) -> Result<u64, Kind> {
    let first = async {
        loop {
            match ws.next().await {
                None => return Err(Kind::Borrowed("eof")),
                Some(Err(e)) => return Err(ws_kind(&e)),
                Some(Ok(Message::Binary(b))) => {
                    return match frame::decode(&b) {
                        Ok(V1Frame::Hello { last_seq }) => Ok(last_seq),
                        _ => Err(Kind::Borrowed("protocol")),
                    }
                }
                Some(Ok(Message::Ping(_))) => {
                    ws.flush().await.map_err(|e| ws_kind(&e))?;
                }
                Some(Ok(Message::Close(f))) => return Err(close_kind(ws, f).await),
                Some(Ok(_)) => return Err(Kind::Borrowed("protocol")),
            }
        }
    };
    tokio::time::timeout(timeout, first)
        .await
        .unwrap_or(Err(Kind::Borrowed("timeout")))
}

/// `closed_<code>`, after answering the close (queued by tungstenite).
pub(super) async fn close_kind(
    ws: &mut Ws,
    frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) -> Kind {
    let code = frame.map_or(1005, |f| u16::from(f.code));
    let _ = ws.flush().await;
    Kind::Owned(format!("closed_{code}"))
}

/// Plain mode: receives until the connection ends; returns why it ended.
/// An echo subscriber also sends its own messages as they fall due.
async fn receive_plain(sub: &mut Sub, mut ws: Ws) -> Kind {
    let env = sub.env.clone();
    let mut started = env.publish_t0.subscribe();
    loop {
        let due = sub.echo.as_ref().and_then(|e| e.next_due(&env));
        let waiting_for_start = sub.echo.is_some() && started.borrow().is_none();
        let msg = tokio::select! {
            biased;
            m = ws.next() => m,
            r = started.changed(), if waiting_for_start => {
                if r.is_err() {
                    // The run is ending; keep receiving until it cancels us.
                    std::future::pending::<()>().await;
                }
                continue;
            }
            _ = env.publish_stop.cancelled(), if due.is_some() => continue,
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                if let Err(kind) = echo_send(sub, &mut ws, due.unwrap_or_else(tokio::time::Instant::now)).await {
                    return kind;
                }
                continue;
            }
        };
        let msg = match msg {
            None => return Kind::Borrowed("eof"),
            Some(Err(e)) => return ws_kind(&e),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(t) => {
                sub.io.wire.data(t.len(), t.len());
                sub.deliver(t.as_bytes())
            }
            Message::Binary(b) => {
                sub.io.wire.data(b.len(), b.len());
                sub.deliver(&b)
            }
            Message::Ping(p) => {
                sub.io.wire.ping_answered(p.len());
                // tungstenite queued the pong; make sure it leaves now.
                if let Err(e) = ws.flush().await {
                    return ws_kind(&e);
                }
            }
            Message::Close(frame) => return close_kind(&mut ws, frame).await,
            Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

/// Sends an echo subscriber's next message, due at `due`; an error ends the
/// connection (the message counts as a failed publish).
async fn echo_send(sub: &mut Sub, ws: &mut Ws, due: tokio::time::Instant) -> Result<(), Kind> {
    let env = sub.env.clone();
    let Some(echo) = sub.echo.as_mut() else {
        return Ok(());
    };
    let (seq, payload, len) = echo.take(&env, due);
    let frame = if env.plan.binary {
        Message::binary(payload.into_bytes())
    } else {
        Message::text(payload)
    };
    let result = match tokio::time::timeout(env.plan.timeout, ws.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ws_kind(&e)),
        Err(_) => Err(Kind::Borrowed("timeout")),
    };
    echo.sent(
        &env,
        seq,
        len,
        result.as_ref().map(|_| ()).map_err(|k| &**k),
    );
    result
}

/// `pushpoll.v1` mode: receives until the connection ends, keeping
/// `last_seq` at the newest message received; returns why it ended.
async fn receive_v1(sub: &mut Sub, mut ws: Ws, last_seq: &mut Option<u64>) -> Kind {
    loop {
        let msg = match ws.next().await {
            None => return Kind::Borrowed("eof"),
            Some(Err(e)) => return ws_kind(&e),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Binary(b) => match frame::decode(&b) {
                Ok(V1Frame::Message { seq, payload, .. }) => {
                    sub.io.wire.data(payload.len(), b.len());
                    sub.deliver(payload);
                    *last_seq = Some(seq);
                    sub.resume_seq = *last_seq;
                }
                Ok(V1Frame::Gap { oldest_seq, .. }) => {
                    // The server goes on from `oldest_seq` (too old a since:
                    // the rest of history; ahead of it: live), so that is
                    // where a reconnect must resume too.
                    sub.error(Kind::Borrowed("gap"));
                    *last_seq = Some(oldest_seq.saturating_sub(1));
                    sub.resume_seq = *last_seq;
                }
                Ok(V1Frame::Hello { .. }) | Err(_) => sub.error(Kind::Borrowed("protocol")),
            },
            // Under pushpoll.v1 every server message is a binary frame.
            Message::Text(_) => sub.error(Kind::Borrowed("protocol")),
            Message::Ping(p) => {
                sub.io.wire.ping_answered(p.len());
                if let Err(e) = ws.flush().await {
                    return ws_kind(&e);
                }
            }
            Message::Close(frame) => return close_kind(&mut ws, frame).await,
            Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_urls_keep_the_query() {
        let u = Url::parse("ws://h:1/ws").unwrap();
        assert_eq!(resume_url(&u, None), "ws://h:1/ws");
        assert_eq!(resume_url(&u, Some(42)), "ws://h:1/ws?since=42");
        let u = Url::parse("ws://h:1/ws?room=a").unwrap();
        assert_eq!(resume_url(&u, Some(0)), "ws://h:1/ws?room=a&since=0");
    }

    fn plan(args: &[&str]) -> Plan {
        use clap::Parser as _;
        let mut v = vec!["load", "--url", "ws://h:1/ws"];
        v.extend_from_slice(args);
        Plan::new(&crate::LoadOpts::try_parse_from(v).unwrap()).unwrap()
    }

    #[test]
    fn the_subprotocol_is_asked_for_only_when_chosen() {
        let p = plan(&[]);
        let r = request(
            "ws://h:1/ws",
            Some(WsSubprotocol::PushpollV1),
            &p,
            &p.sub_vars(0),
        )
        .unwrap();
        assert_eq!(
            r.headers()
                .get(http::header::SEC_WEBSOCKET_PROTOCOL)
                .unwrap(),
            "pushpoll.v1"
        );
        let r = request("ws://h:1/ws", None, &p, &p.sub_vars(0)).unwrap();
        assert!(r
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .is_none());
    }

    #[test]
    fn extra_headers_origin_and_subprotocols_go_on_the_handshake() {
        let p = plan(&[
            "--header",
            "Cookie: a=1",
            "--header",
            "cookie:b=2",
            "--origin",
            "http://example.test:8080/page",
            "--subprotocol",
            "chat",
            "--subprotocol",
            "superchat",
        ]);
        let r = request("ws://h:1/ws", None, &p, &p.sub_vars(0)).unwrap();
        let h = r.headers();
        let cookies: Vec<_> = h.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(h.get("origin").unwrap(), "http://example.test:8080");
        assert_eq!(
            h.get(http::header::SEC_WEBSOCKET_PROTOCOL).unwrap(),
            "chat, superchat"
        );
    }
}
