//! Bayeux subscriber (`--transport bayeux`): Faye, CometD and other servers
//! of the Bayeux protocol, over one of two connection types
//! (`--bayeux-transport`):
//!
//! - **long-polling**: every message is an HTTP `POST` of a JSON array on
//!   one keep-alive connection: `/meta/handshake`, `/meta/subscribe`, then
//!   `/meta/connect` after `/meta/connect`, each held by the server until it
//!   has messages for the client (or `advice.timeout` passes), and answered
//!   with them. Every `POST` counts as a request; a connect answered without
//!   a message is an empty poll.
//! - **websocket**: one WebSocket at the endpoint (`ws://` of the same URL,
//!   one request), the same messages as frames. `/meta/connect`s are still
//!   sent one after the other as the protocol wants, and messages arrive
//!   whenever the server pushes them.
//!
//! The subscriber is ready once its subscription is answered
//! `successful`. The server's `advice` is obeyed: `retry` connects again
//! after `interval`; `handshake`, or a connect answered `successful:false`
//! (an unknown client: CometD's `402::Unknown client`, Faye's
//! `401:<id>:Unknown client`), handshakes again on the same connection,
//! counted as `bayeux_rehandshake`; `none` ends the subscriber
//! (`bayeux_advice_none`). A new handshake is a new client: what is
//! published meanwhile is lost, as for any Bayeux client.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use http::header;
use http_body_util::Full;
use tokio_tungstenite::tungstenite::Message;

use super::socketio::next_text;
use super::ws::{connect as ws_connect, Ws};
use super::{Backoff, Sub};
use crate::config::headers::RequestKind;
use crate::config::opts::BayeuxTransport;
use crate::config::plan::{BayeuxPlan, Plan, Target};
use crate::config::template::Vars;
use crate::core::error::{status_kind, Kind};
use crate::net::count::SubIo;
use crate::proto::bayeux::{self, Advice, Msg, Reconnect, Reply, MAX_ANSWER};
use crate::proto::http::HttpConn;
use crate::proto::ws::ws_kind;

/// How long a connect may be held when the server advises no timeout.
const DEFAULT_HOLD: Duration = Duration::from_secs(30);

type Conn = HttpConn<Full<Bytes>>;

/// The connection a client's messages go over.
pub(crate) enum Link {
    Http(Conn),
    Ws(Box<Ws>),
}

/// A handshaken, subscribed client.
struct Session {
    client_id: String,
    next_id: u64,
    advice: Advice,
}

impl Session {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Takes in the advice of a reply (a field at a time, as the protocol
    /// says advice lasts until replaced).
    fn advise(&mut self, a: Option<Advice>) {
        let Some(a) = a else { return };
        self.advice.reconnect = a.reconnect.or(self.advice.reconnect);
        self.advice.interval = a.interval.or(self.advice.interval);
        self.advice.timeout = a.timeout.or(self.advice.timeout);
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.advice.interval.unwrap_or(0))
    }
}

/// Why receiving ended.
enum End {
    /// Handshake again on the same connection.
    Rehandshake,
    /// The server said not to come back.
    Stop,
    /// The connection failed.
    Error(Kind),
}

pub(super) async fn run(sub: &mut Sub) {
    let env = sub.env.clone();
    let Some(bx) = env.plan.bayeux.as_ref() else {
        return;
    };
    let vars = env.plan.sub_vars(sub.idx);
    let channel = bx.channel.render(&vars, "");
    let mut backoff = Backoff::new();
    loop {
        let mut link = match sub
            .guard(open_link(&env.plan, bx, &vars, env.addr, &sub.io))
            .await
        {
            None => return,
            Some(Ok(link)) => Some(link),
            Some(Err(kind)) => {
                if !sub.failed(kind) {
                    return;
                }
                None
            }
        };
        while let Some(l) = link.as_mut() {
            let mut early = Vec::new();
            let io = sub.io.clone();
            let opened = sub
                .guard(session(l, &env.plan, &vars, &io, &channel, &mut early))
                .await;
            let session = match opened {
                None => return,
                Some(Err(kind)) => {
                    if !sub.failed(kind) {
                        return;
                    }
                    break;
                }
                Some(Ok(s)) => s,
            };
            if !sub.ready() {
                return;
            }
            for data in &early {
                sub.deliver(data.as_bytes());
            }
            let interval = session.interval();
            match receive(sub, bx, &vars, l, session, &mut backoff).await {
                End::Rehandshake => {
                    sub.error(Kind::Borrowed("bayeux_rehandshake"));
                    if !sub.pause(&mut backoff, Some(interval)).await {
                        return;
                    }
                }
                End::Stop => {
                    sub.error(Kind::Borrowed("bayeux_advice_none"));
                    return;
                }
                End::Error(kind) => {
                    sub.error(kind);
                    link = None;
                }
            }
        }
        if !sub.pause(&mut backoff, None).await {
            return;
        }
    }
}

/// Opens the connection: an HTTP/1.1 keep-alive connection, or the
/// WebSocket (one request).
pub(crate) async fn open_link(
    plan: &Plan,
    bx: &BayeuxPlan,
    vars: &Vars<'_>,
    addr: SocketAddr,
    io: &Arc<SubIo>,
) -> Result<Link, Kind> {
    match bx.conn {
        BayeuxTransport::LongPolling => {
            let conn = HttpConn::connect(addr, plan.sub.tls.as_ref(), plan.timeout, io).await?;
            Ok(Link::Http(conn))
        }
        BayeuxTransport::Websocket => {
            // The publishers' endpoint is the subscribers' (a --publish-url
            // makes them plain publishers), so one TLS setting serves both.
            let ws = ws_connect(&bayeux::ws_url(&plan.sub, vars), plan, vars, addr, io).await?;
            Ok(Link::Ws(Box::new(ws)))
        }
    }
}

/// Sends one request (a `POST`, counted, or a frame) and waits, within
/// `timeout`, for the reply to `id`; every data message that arrives
/// meanwhile goes to `on_data`. `POST` answers without that reply, or
/// anything that is not Bayeux, are `bayeux_bad_answer`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn exchange(
    link: &mut Link,
    plan: &Plan,
    target: &Target,
    vars: &Vars<'_>,
    io: &SubIo,
    body: String,
    id: u64,
    timeout: Duration,
    on_data: &mut (dyn FnMut(&str) + Send),
) -> Result<Reply, Kind> {
    match link {
        Link::Http(conn) => {
            let msgs = post(conn, plan, target, vars, io, body, timeout).await?;
            let reply = bayeux::reply_to(&msgs, id).cloned();
            for m in &msgs {
                if let Msg::Data { data, .. } = m {
                    on_data(data);
                }
            }
            reply.ok_or_else(|| {
                tracing::debug!(id, "Bayeux answer without our reply");
                Kind::Borrowed("bayeux_bad_answer")
            })
        }
        Link::Ws(ws) => {
            let fut = async {
                ws.send(Message::text(body))
                    .await
                    .map_err(|e| ws_kind(&e))?;
                loop {
                    let text = next_text(ws).await?;
                    let msgs = read(text.as_bytes())?;
                    let reply = bayeux::reply_to(&msgs, id).cloned();
                    for m in &msgs {
                        if let Msg::Data { data, .. } = m {
                            on_data(data);
                        }
                    }
                    if let Some(r) = reply {
                        return Ok(r);
                    }
                }
            };
            tokio::time::timeout(timeout, fut)
                .await
                .unwrap_or(Err(Kind::Borrowed("timeout")))
        }
    }
}

/// Reads an answer, naming garbage `bayeux_bad_answer`.
fn read(body: &[u8]) -> Result<Vec<Msg>, Kind> {
    bayeux::parse(body).map_err(|e| {
        tracing::debug!(reason = %e.0, "not a Bayeux answer");
        Kind::Borrowed("bayeux_bad_answer")
    })
}

/// One `POST` of `body` (a request), its answer read (at most
/// [`MAX_ANSWER`] bytes).
async fn post(
    conn: &mut Conn,
    plan: &Plan,
    target: &Target,
    vars: &Vars<'_>,
    io: &SubIo,
    body: String,
    timeout: Duration,
) -> Result<Vec<Msg>, Kind> {
    let req = http::Request::post(target.path(vars).as_ref())
        .header(header::HOST, target.authority.as_str())
        .header(header::CONTENT_TYPE, "application/json");
    let req = plan
        .request_headers(RequestKind::Poll, req, vars)
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| Kind::Borrowed("protocol"))?;
    io.request();
    let (head, body) = conn.fetch(req, timeout, MAX_ANSWER).await?;
    if !head.status.is_success() {
        return Err(status_kind(head.status.as_u16()));
    }
    read(&body)
}

/// Handshakes and subscribes to `channel`. Data that arrives meanwhile is
/// put in `early`.
async fn session(
    link: &mut Link,
    plan: &Plan,
    vars: &Vars<'_>,
    io: &SubIo,
    channel: &str,
    early: &mut Vec<String>,
) -> Result<Session, Kind> {
    let (client_id, advice) = handshake(link, plan, &plan.sub, vars, io, &mut |d| {
        early.push(d.to_owned())
    })
    .await?;
    let mut s = Session {
        client_id,
        next_id: 1,
        advice: Advice::default(),
    };
    s.advise(advice);
    let id = s.id();
    let body = bayeux::subscribe(id, &s.client_id, channel);
    let reply = exchange(
        link,
        plan,
        &plan.sub,
        vars,
        io,
        body,
        id,
        plan.timeout,
        &mut |d| early.push(d.to_owned()),
    )
    .await?;
    if !reply.successful {
        tracing::debug!(channel, error = reply.why(), "subscription refused");
        return Err(Kind::Borrowed("bayeux_subscribe_failed"));
    }
    Ok(s)
}

/// `/meta/handshake` (request id 1): the client id and the server's advice.
pub(crate) async fn handshake(
    link: &mut Link,
    plan: &Plan,
    target: &Target,
    vars: &Vars<'_>,
    io: &SubIo,
    on_data: &mut (dyn FnMut(&str) + Send),
) -> Result<(String, Option<Advice>), Kind> {
    let conn = plan
        .bayeux
        .as_ref()
        .map_or(BayeuxTransport::LongPolling, |b| b.conn);
    let body = bayeux::handshake(1, conn);
    let reply = exchange(link, plan, target, vars, io, body, 1, plan.timeout, on_data).await?;
    if !reply.successful {
        tracing::debug!(error = reply.why(), "handshake refused");
        return Err(Kind::Borrowed("bayeux_handshake_failed"));
    }
    match reply.client_id {
        Some(id) if !id.is_empty() => Ok((id, reply.advice)),
        _ => Err(Kind::Borrowed("bayeux_bad_answer")),
    }
}

/// The `/meta/connect` loop, until the session or the connection ends.
async fn receive(
    sub: &mut Sub,
    bx: &BayeuxPlan,
    vars: &Vars<'_>,
    link: &mut Link,
    mut s: Session,
    backoff: &mut Backoff,
) -> End {
    let env = sub.env.clone();
    let io = sub.io.clone();
    loop {
        let id = s.id();
        let body = bayeux::connect(id, &s.client_id, bx.conn);
        let hold = s.advice.timeout.map_or(DEFAULT_HOLD, Duration::from_millis) + env.plan.timeout;
        let mut data = 0u64;
        let reply = exchange(
            link,
            &env.plan,
            &env.plan.sub,
            vars,
            &io,
            body,
            id,
            hold,
            &mut |d| {
                data += 1;
                sub.deliver(d.as_bytes());
            },
        )
        .await;
        let reply = match reply {
            Ok(r) => r,
            Err(kind) => return End::Error(kind),
        };
        if data == 0 && bx.conn == BayeuxTransport::LongPolling {
            io.empty_polls.fetch_add(1, Relaxed);
        }
        s.advise(reply.advice);
        match s.advice.reconnect {
            Some(Reconnect::None) => return End::Stop,
            Some(Reconnect::Handshake) => return End::Rehandshake,
            _ if !reply.successful => {
                tracing::debug!(error = reply.why(), "connect refused");
                return End::Rehandshake;
            }
            _ => backoff.reset(),
        }
        let interval = s.interval();
        if !interval.is_zero() {
            tokio::time::sleep(interval).await;
        }
    }
}
