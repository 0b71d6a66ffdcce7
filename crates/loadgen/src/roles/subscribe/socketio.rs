//! Socket.IO subscriber (`--transport socket.io`), in one of three modes
//! (`--socketio-transport`):
//!
//! - **polling**: `GET /socket.io/?EIO=4&transport=polling` opens the
//!   Engine.IO session (`0{"sid":..}`), a `POST` of `40` connects to the
//!   namespace, then a `GET` loop on one keep-alive connection receives
//!   (packets batched with `\x1e`); a server ping `2` is answered by a
//!   `POST` of `3`.
//! - **websocket**: one WebSocket `?EIO=4&transport=websocket` from the
//!   start: open packet, `40`, then events as frames; pings answered there.
//! - **upgrade** (socket.io's browser client): open and connect with
//!   polling as above, then a WebSocket with the `sid`, `2probe` → `3probe`,
//!   `5`, and receive there.
//!
//! The subscriber is ready once connected to the namespace (`40` answered)
//! and, when upgrading, once the upgrade is done. Every `GET`, `POST` and
//! WebSocket handshake counts as a request; a `GET` whose answer carries no
//! event of ours is an empty poll. Socket.IO cannot resume: what is emitted
//! while a subscriber reconnects is lost, as for a plain WebSocket client.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header;
use http_body_util::Full;
use pushpoll_wire::engineio::{self, Packet, SioPacket};
use tokio_tungstenite::tungstenite::Message;

use super::ws::{close_kind, connect as ws_connect, Ws};
use super::{Backoff, Sub};
use crate::config::headers::RequestKind;
use crate::config::opts::SocketIoTransport;
use crate::config::plan::{Plan, SocketIoPlan};
use crate::config::template::{Step, Vars};
use crate::core::error::{status_kind, Kind};
use crate::net::count::SubIo;
use crate::proto::http::{get, HttpConn};
use crate::proto::socketio;
use crate::proto::ws::ws_kind;

/// Largest polling answer read, bytes.
const MAX_BODY: usize = 16 << 20;
/// Polls a connection may take to be answered `40` before giving up.
const CONNECT_POLLS: usize = 16;

type Conn = HttpConn<Full<Bytes>>;

/// A long-polling session.
struct Polling {
    conn: Conn,
    sid: String,
    /// Longest a `GET` may be held: ping interval + ping timeout + `--timeout`.
    hold: Duration,
}

enum Session {
    Polling(Polling),
    Ws(Box<Ws>),
}

pub(super) async fn run(sub: &mut Sub) {
    let env = sub.env.clone();
    let Some(sio) = env.plan.socketio.as_ref() else {
        return;
    };
    let mut backoff = Backoff::new();
    loop {
        let mut early = Vec::new();
        match sub
            .guard(open(
                &env.plan,
                sio,
                &env.plan.sub_vars(sub.idx),
                env.addr,
                &sub.io,
                &mut early,
            ))
            .await
        {
            None => return,
            Some(Err(kind)) => {
                if !sub.failed(kind) {
                    return;
                }
            }
            Some(Ok(session)) => {
                if !sub.ready() {
                    return;
                }
                backoff.reset();
                for raw in &early {
                    sub.deliver(raw.as_bytes());
                }
                let kind = match session {
                    Session::Polling(p) => receive_polling(sub, sio, p).await,
                    Session::Ws(ws) => receive_ws(sub, sio, *ws).await,
                };
                sub.error(kind);
            }
        }
        if !sub.pause(&mut backoff, None).await {
            return;
        }
    }
}

/// What one batch of packets asks for.
#[derive(Default)]
struct Batch {
    /// Events of ours.
    events: usize,
    /// Pong payloads owed (`2x` → `3x`).
    pongs: Vec<String>,
    /// Connected to the namespace.
    connected: bool,
    /// `3probe` seen.
    probed: bool,
}

/// Reads Engine.IO packets; events of ours go to `events`. Returns the
/// error kind when the packets end the session.
fn read<'a>(
    packets: impl Iterator<Item = &'a str>,
    sio: &SocketIoPlan,
    batch: &mut Batch,
    mut events: impl FnMut(&'a str),
) -> Result<(), Kind> {
    for p in packets {
        match engineio::packet(p) {
            Packet::Ping(d) => batch.pongs.push(engineio::pong(d)),
            Packet::Pong("probe") => batch.probed = true,
            Packet::Close => return Err(Kind::Borrowed("sio_close")),
            Packet::Message(m) => match engineio::sio_in(m, &sio.namespace, &sio.event) {
                SioPacket::Connect => batch.connected = true,
                SioPacket::Event { named: true, raw } => {
                    batch.events += 1;
                    events(raw);
                }
                SioPacket::Disconnect => return Err(Kind::Borrowed("sio_disconnect")),
                SioPacket::ConnectError => return Err(Kind::Borrowed("sio_connect_error")),
                SioPacket::Event { .. } | SioPacket::Other => {}
            },
            Packet::Open(_) | Packet::Pong(_) | Packet::Other => {}
        }
    }
    Ok(())
}

/// One polling `GET` (a request), its answer as text.
async fn poll_get(
    conn: &mut Conn,
    plan: &Plan,
    vars: &Vars<'_>,
    io: &SubIo,
    path: &str,
    timeout: Duration,
) -> Result<String, Kind> {
    let req = plan
        .request_headers(RequestKind::Poll, get(&plan.sub.authority, path), vars)
        .body(Full::default())
        .map_err(|_| Kind::Borrowed("protocol"))?;
    io.request();
    let (head, body) = conn.fetch(req, timeout, MAX_BODY).await?;
    if head.status != http::StatusCode::OK {
        return Err(status_kind(head.status.as_u16()));
    }
    String::from_utf8(body.to_vec()).map_err(|_| Kind::Borrowed("protocol"))
}

/// One polling `POST` of `body` (a request).
async fn poll_post(
    conn: &mut Conn,
    plan: &Plan,
    vars: &Vars<'_>,
    io: &SubIo,
    path: &str,
    body: String,
) -> Result<(), Kind> {
    let req = http::Request::post(path)
        .header(header::HOST, plan.sub.authority.as_str())
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
    let req = plan
        .request_headers(RequestKind::Publish, req, vars)
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| Kind::Borrowed("protocol"))?;
    io.request();
    let (head, _) = conn.fetch(req, plan.timeout, 64 << 10).await?;
    if head.status != http::StatusCode::OK {
        return Err(status_kind(head.status.as_u16()));
    }
    Ok(())
}

/// Opens a session and connects to the namespace (and upgrades, when asked).
/// Events that arrive meanwhile are put in `early`.
async fn open(
    plan: &Plan,
    sio: &SocketIoPlan,
    vars: &Vars<'_>,
    addr: SocketAddr,
    io: &Arc<SubIo>,
    early: &mut Vec<String>,
) -> Result<Session, Kind> {
    if sio.mode == SocketIoTransport::Websocket {
        let mut ws = ws_connect(
            &socketio::ws_url(&plan.sub, vars, None),
            plan,
            vars,
            addr,
            io,
        )
        .await?;
        ws_open(&mut ws, sio, vars, plan.timeout, early).await?;
        socketio::ws_steps(&mut ws, &plan.steps, vars, sio, plan.timeout).await?;
        return Ok(Session::Ws(Box::new(ws)));
    }
    let mut conn: Conn = HttpConn::connect(addr, plan.sub.tls.as_ref(), plan.timeout, io).await?;
    let first = poll_get(
        &mut conn,
        plan,
        vars,
        io,
        &socketio::path(&plan.sub, vars, "polling", None),
        plan.timeout,
    )
    .await?;
    let open = engineio::payload(&first)
        .find_map(|p| match engineio::packet(p) {
            Packet::Open(d) => engineio::open(d),
            _ => None,
        })
        .ok_or(Kind::Borrowed("protocol"))?;
    let hold = Duration::from_millis(open.ping_interval.saturating_add(open.ping_timeout))
        .min(Duration::from_secs(600))
        + plan.timeout;
    let path = socketio::path(&plan.sub, vars, "polling", Some(&open.sid));
    poll_post(
        &mut conn,
        plan,
        vars,
        io,
        &path,
        socketio::connect_packet(sio, vars),
    )
    .await?;
    let mut connected = false;
    for _ in 0..CONNECT_POLLS {
        let body = poll_get(&mut conn, plan, vars, io, &path, hold).await?;
        let mut batch = Batch::default();
        read(engineio::payload(&body), sio, &mut batch, |raw| {
            early.push(raw.to_owned())
        })?;
        if batch.events == 0 {
            io.empty_polls.fetch_add(1, Relaxed);
        }
        for pong in batch.pongs {
            poll_post(&mut conn, plan, vars, io, &path, pong).await?;
        }
        if batch.connected {
            connected = true;
            break;
        }
    }
    if !connected {
        return Err(Kind::Borrowed("sio_not_connected"));
    }
    if sio.mode == SocketIoTransport::Polling {
        let mut p = Polling {
            conn,
            sid: open.sid,
            hold,
        };
        polling_steps(&mut p, plan, sio, vars, io, &path).await?;
        return Ok(Session::Polling(p));
    }
    let mut ws = ws_connect(
        &socketio::ws_url(&plan.sub, vars, Some(&open.sid)),
        plan,
        vars,
        addr,
        io,
    )
    .await?;
    let upgrade = async {
        ws.send(Message::text(engineio::PROBE))
            .await
            .map_err(|e| ws_kind(&e))?;
        loop {
            let mut batch = Batch::default();
            let text = next_text(&mut ws).await?;
            read(std::iter::once(text.as_str()), sio, &mut batch, |raw| {
                early.push(raw.to_owned())
            })?;
            if batch.probed {
                break;
            }
        }
        ws.send(Message::text(engineio::UPGRADE))
            .await
            .map_err(|e| ws_kind(&e))
    };
    tokio::time::timeout(plan.timeout, upgrade)
        .await
        .unwrap_or(Err(Kind::Borrowed("timeout")))?;
    drop(conn);
    socketio::ws_steps(&mut ws, &plan.steps, vars, sio, plan.timeout).await?;
    Ok(Session::Ws(Box::new(ws)))
}

/// The `--on-connect` steps over a polling session: `send:` is a `POST` of
/// the event, `expect:` polls until a packet contains the text (within
/// `--timeout`, pings answered).
async fn polling_steps(
    p: &mut Polling,
    plan: &Plan,
    sio: &SocketIoPlan,
    vars: &Vars<'_>,
    io: &SubIo,
    path: &str,
) -> Result<(), Kind> {
    let named = |what: &str, k: Kind| Kind::Owned(format!("on_connect_{what}_{k}"));
    for step in &plan.steps {
        match step {
            Step::Send(t) => {
                let packet = engineio::emit_array(&sio.namespace, &t.render(vars, ""));
                poll_post(&mut p.conn, plan, vars, io, path, packet)
                    .await
                    .map_err(|k| named("send", k))?;
            }
            Step::Expect(t) => {
                let want = t.render(vars, "");
                let wait = async {
                    loop {
                        let body = poll_get(&mut p.conn, plan, vars, io, path, p.hold)
                            .await
                            .map_err(|k| named("expect", k))?;
                        for packet in engineio::payload(&body) {
                            match engineio::packet(packet) {
                                Packet::Message(m) if m.contains(&want) => return Ok(()),
                                Packet::Ping(d) => {
                                    let pong = engineio::pong(d);
                                    poll_post(&mut p.conn, plan, vars, io, path, pong)
                                        .await
                                        .map_err(|k| named("expect", k))?;
                                }
                                Packet::Close => return Err(Kind::Borrowed("on_connect_closed")),
                                _ => {}
                            }
                        }
                    }
                };
                tokio::time::timeout(plan.timeout, wait)
                    .await
                    .unwrap_or(Err(Kind::Borrowed("on_connect_expect_timeout")))?;
            }
        }
    }
    Ok(())
}

/// The next text frame (answering WebSocket pings on the way).
async fn next_text(ws: &mut Ws) -> Result<String, Kind> {
    loop {
        match ws.next().await {
            None => return Err(Kind::Borrowed("eof")),
            Some(Err(e)) => return Err(ws_kind(&e)),
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Ping(_))) => ws.flush().await.map_err(|e| ws_kind(&e))?,
            Some(Ok(Message::Close(f))) => return Err(close_kind(ws, f).await),
            Some(Ok(_)) => {}
        }
    }
}

/// WebSocket-only session: open packet, `40`, wait for the namespace.
async fn ws_open(
    ws: &mut Ws,
    sio: &SocketIoPlan,
    vars: &Vars<'_>,
    timeout: Duration,
    early: &mut Vec<String>,
) -> Result<(), Kind> {
    let handshake = async {
        loop {
            let text = next_text(ws).await?;
            if let Packet::Open(d) = engineio::packet(&text) {
                engineio::open(d).ok_or(Kind::Borrowed("protocol"))?;
                break;
            }
        }
        ws.send(Message::text(socketio::connect_packet(sio, vars)))
            .await
            .map_err(|e| ws_kind(&e))?;
        loop {
            let text = next_text(ws).await?;
            let mut batch = Batch::default();
            read(std::iter::once(text.as_str()), sio, &mut batch, |raw| {
                early.push(raw.to_owned())
            })?;
            for pong in batch.pongs {
                ws.send(Message::text(pong))
                    .await
                    .map_err(|e| ws_kind(&e))?;
            }
            if batch.connected {
                return Ok(());
            }
        }
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .unwrap_or(Err(Kind::Borrowed("timeout")))
}

/// Receives by long polling until the session ends; returns why it ended.
async fn receive_polling(sub: &mut Sub, sio: &SocketIoPlan, mut p: Polling) -> Kind {
    let env = sub.env.clone();
    let plan = &env.plan;
    let vars = plan.sub_vars(sub.idx);
    let path = socketio::path(&plan.sub, &vars, "polling", Some(&p.sid));
    loop {
        let body = match poll_get(&mut p.conn, plan, &vars, &sub.io, &path, p.hold).await {
            Ok(b) => b,
            Err(kind) => return kind,
        };
        let mut batch = Batch::default();
        if let Err(kind) = read(engineio::payload(&body), sio, &mut batch, |raw| {
            sub.deliver(raw.as_bytes())
        }) {
            return kind;
        }
        if batch.events == 0 {
            sub.io.empty_polls.fetch_add(1, Relaxed);
        }
        for pong in batch.pongs {
            if let Err(kind) = poll_post(&mut p.conn, plan, &vars, &sub.io, &path, pong).await {
                return kind;
            }
        }
    }
}

/// Receives on a WebSocket until the session ends; returns why it ended.
async fn receive_ws(sub: &mut Sub, sio: &SocketIoPlan, mut ws: Ws) -> Kind {
    loop {
        let text = match next_text(&mut ws).await {
            Ok(t) => t,
            Err(kind) => return kind,
        };
        let mut batch = Batch::default();
        if let Err(kind) = read(std::iter::once(text.as_str()), sio, &mut batch, |raw| {
            sub.deliver(raw.as_bytes())
        }) {
            return kind;
        }
        for pong in batch.pongs {
            if let Err(e) = ws.send(Message::text(pong)).await {
                return ws_kind(&e);
            }
        }
    }
}
