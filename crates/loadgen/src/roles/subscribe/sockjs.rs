//! SockJS subscriber (`--transport sockjs`), as sockjs-client connects:
//! `GET <prefix>/info` first, then a session at
//! `<prefix>/<server>/<session>/<transport>` with a fresh random id, in one
//! of three modes (`--sockjs-transport`):
//!
//! - **websocket**: one WebSocket, a SockJS frame per text message.
//! - **xhr-streaming**: `POST .../xhr_streaming`, answered by the 2 KiB `h`
//!   prelude and then frames separated by `\n` for as long as the server
//!   keeps the answer open (sockjs-node ends it after 128 KiB); the next
//!   `POST` continues the same session, and the server keeps what was sent
//!   in between.
//! - **xhr-polling**: `POST .../xhr` in a loop, each answered with a frame.
//!
//! The session is open at its `o` frame, after which the `--on-connect`
//! steps run (a `send:` is a message, `POST .../xhr_send` or a WebSocket
//! text message; an `expect:` waits for a message containing the text) and
//! the subscriber is ready. Every message of every `a[...]` frame is handed
//! on. A `c[code,"reason"]` frame ends the session (`sockjs_closed_<code>`)
//! and the subscriber reconnects with a new session, as a SockJS client
//! must. Every HTTP request (`/info`, each poll and streaming `POST`, each
//! `xhr_send`, the WebSocket handshake) counts as a request, and all bytes
//! are counted at the sockets.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tokio_tungstenite::tungstenite::Message;

use super::ws::{close_kind, connect as ws_connect, Ws};
use super::{Backoff, Sub};
use crate::config::headers::RequestKind;
use crate::config::opts::SockJsTransport as Mode;
use crate::config::plan::{Plan, SockJsPlan};
use crate::config::template::{Step, Vars};
use crate::core::error::{error_kind, status_kind, Kind, LoadError};
use crate::net::count::SubIo;
use crate::proto::http::{body_error_kind, get, HttpConn};
use crate::proto::sockjs::{self, Frame, Lines, Paths, SessionId};
use crate::proto::ws::ws_kind;

/// How long a poll or a streaming answer may stay silent beyond
/// `--timeout`: sockjs-node sends a heartbeat every 25 s.
const HEARTBEAT_SLACK: Duration = Duration::from_secs(35);

type Conn = HttpConn<Full<Bytes>>;

/// How a session receives.
enum Recv {
    Ws(Box<Ws>),
    Polling(Conn),
    Streaming {
        conn: Conn,
        /// The answer being read; `None` once the server ended it.
        body: Option<Incoming>,
        lines: Lines,
    },
}

/// An open SockJS session.
struct Session {
    id: SessionId,
    recv: Recv,
    /// The connection of `xhr_send`s (xhr modes), opened when first needed.
    send: Option<Conn>,
}

/// What a session needs of the run, borrowed.
struct Ctx<'a> {
    plan: &'a Plan,
    sj: &'a SockJsPlan,
    addr: SocketAddr,
    io: &'a Arc<SubIo>,
    /// The connection's placeholders.
    vars: Vars<'a>,
    paths: Paths,
}

pub(super) async fn run(sub: &mut Sub) {
    let env = sub.env.clone();
    let Some(sj) = env.plan.sockjs.as_ref() else {
        return;
    };
    let io = sub.io.clone();
    let vars = env.plan.sub_vars(sub.idx);
    let ctx = Ctx {
        plan: &env.plan,
        sj,
        addr: env.addr,
        io: &io,
        paths: Paths::of(&env.plan.sub, &vars),
        vars,
    };
    let mut backoff = Backoff::new();
    loop {
        let mut early = Vec::new();
        match sub.guard(open(&ctx, &mut early)).await {
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
                for m in &early {
                    sub.deliver(m.as_bytes());
                }
                let kind = receive(sub, &ctx, session).await;
                sub.error(kind);
            }
        }
        if !sub.pause(&mut backoff, None).await {
            return;
        }
    }
}

/// A counted `POST` of `body` to `path`; the answer's head. A connection
/// the server closed after its last answer is replaced first, as a browser
/// would open a new one.
async fn post(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    path: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<hyper::Response<Incoming>, Kind> {
    let plan = ctx.plan;
    if conn.is_closed() {
        *conn = HttpConn::connect(ctx.addr, plan.sub.tls.as_ref(), plan.timeout, ctx.io).await?;
    }
    let req = http::Request::post(path)
        .header(header::HOST, plan.sub.authority.as_str())
        .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8");
    let kind = if body.is_empty() {
        RequestKind::Poll
    } else {
        RequestKind::Publish
    };
    let req = plan
        .request_headers(kind, req, &ctx.vars)
        .body(Full::new(body))
        .map_err(|_| Kind::Borrowed("protocol"))?;
    ctx.io.request();
    let resp = conn.send(req, timeout).await?;
    if !resp.status().is_success() {
        return Err(status_kind(resp.status().as_u16()));
    }
    Ok(resp)
}

/// Reads a whole poll answer into frames, within `timeout`. The answer as
/// a whole is held to `max` bytes, like one frame (sockjs-node answers a
/// poll with one frame), so many small frames cannot add up unbounded.
async fn body_frames(
    resp: hyper::Response<Incoming>,
    max: usize,
    timeout: Duration,
    out: &mut Vec<Frame>,
) -> Result<(), Kind> {
    let mut lines = Lines::new(max);
    let mut body = resp.into_body();
    let mut read_bytes = 0usize;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| error_kind(&e))?;
            if let Ok(data) = frame.into_data() {
                read_bytes += data.len();
                if read_bytes > max {
                    return Err(sockjs::TOO_LARGE);
                }
                lines.feed(&data, out)?;
            }
        }
        lines.end(out)
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(Kind::Borrowed("timeout")))
}

/// `GET <prefix>/info` (a request) on `conn`: whether WebSocket is on.
async fn info(conn: &mut Conn, ctx: &Ctx<'_>) -> Result<sockjs::Info, Kind> {
    let plan = ctx.plan;
    let req = plan
        .request_headers(
            RequestKind::Poll,
            get(&plan.sub.authority, &ctx.paths.info()),
            &ctx.vars,
        )
        .body(Full::default())
        .map_err(|_| Kind::Borrowed("protocol"))?;
    ctx.io.request();
    let (head, body) = conn.fetch(req, plan.timeout, 64 << 10).await?;
    if head.status != http::StatusCode::OK {
        return Err(Kind::Owned(format!(
            "sockjs_info_{}",
            status_kind(head.status.as_u16())
        )));
    }
    sockjs::info(&body)
}

/// Opens a session: `/info`, the transport's first request, the `o` frame,
/// then the `--on-connect` steps. Messages that arrive meanwhile go to `early`.
async fn open(ctx: &Ctx<'_>, early: &mut Vec<String>) -> Result<Session, Kind> {
    let plan = ctx.plan;
    let mut conn: Conn =
        HttpConn::connect(ctx.addr, plan.sub.tls.as_ref(), plan.timeout, ctx.io).await?;
    let info = info(&mut conn, ctx).await?;
    let sid = SessionId::random();
    let recv = match ctx.sj.mode {
        Mode::Websocket => {
            if !info.websocket {
                return Err(Kind::Borrowed("sockjs_websocket_disabled"));
            }
            drop(conn);
            let url = sockjs::ws_url(&plan.sub, &ctx.vars, &sid);
            Recv::Ws(Box::new(
                ws_connect(&url, plan, &ctx.vars, ctx.addr, ctx.io).await?,
            ))
        }
        Mode::XhrPolling => Recv::Polling(conn),
        Mode::XhrStreaming => Recv::Streaming {
            conn,
            body: None,
            lines: Lines::new(ctx.sj.max_frame),
        },
    };
    let mut session = Session {
        id: sid,
        recv,
        send: None,
    };
    let mut frames = Vec::new();
    let opened = async {
        loop {
            frames.clear();
            session.next(ctx, &mut frames).await?;
            let mut it = frames.drain(..);
            match it.next() {
                None | Some(Frame::Heartbeat) => continue,
                Some(Frame::Open) => {}
                Some(Frame::Close { code, .. }) => return Err(Frame::close_kind(code)),
                Some(Frame::Messages(_)) => return Err(Kind::Borrowed("sockjs_not_opened")),
            }
            for f in it {
                match f {
                    Frame::Messages(m) => early.extend(m),
                    Frame::Close { code, .. } => return Err(Frame::close_kind(code)),
                    Frame::Open => return Err(sockjs::BAD_FRAME),
                    Frame::Heartbeat => {}
                }
            }
            return Ok(());
        }
    };
    tokio::time::timeout(plan.timeout, opened)
        .await
        .unwrap_or(Err(Kind::Borrowed("sockjs_open_timeout")))?;
    run_steps(&mut session, ctx, early).await?;
    Ok(session)
}

/// Runs the `--on-connect` steps on an open session.
/// The error kind names the step: `on_connect_send_<kind>`,
/// `on_connect_expect_timeout`, `on_connect_expect_<kind>`.
async fn run_steps(
    session: &mut Session,
    ctx: &Ctx<'_>,
    early: &mut Vec<String>,
) -> Result<(), Kind> {
    let timeout = ctx.plan.timeout;
    let mut frames = Vec::new();
    for step in &ctx.plan.steps {
        match step {
            Step::Send(t) => {
                let text = t.render(&ctx.vars, "");
                tokio::time::timeout(timeout, session.send(ctx, &[&text]))
                    .await
                    .unwrap_or(Err(Kind::Borrowed("timeout")))
                    .map_err(|k| Kind::Owned(format!("on_connect_send_{k}")))?;
            }
            Step::Expect(t) => {
                let want = t.render(&ctx.vars, "");
                let wait = async {
                    loop {
                        frames.clear();
                        session.next(ctx, &mut frames).await?;
                        for f in frames.drain(..) {
                            match f {
                                Frame::Messages(m) => {
                                    if m.iter().any(|m| m.contains(&want)) {
                                        return Ok(());
                                    }
                                    early.extend(m);
                                }
                                Frame::Close { code, .. } => return Err(Frame::close_kind(code)),
                                Frame::Open => return Err(sockjs::BAD_FRAME),
                                Frame::Heartbeat => {}
                            }
                        }
                    }
                };
                tokio::time::timeout(timeout, wait)
                    .await
                    .unwrap_or(Err(Kind::Borrowed("timeout")))
                    .map_err(|k| Kind::Owned(format!("on_connect_expect_{k}")))?;
            }
        }
    }
    Ok(())
}

impl Session {
    /// Reads the next frames: one WebSocket message, one poll answer, or
    /// what the next chunk of a streaming answer completes (reopening the
    /// stream on the same session when the server ended it).
    async fn next(&mut self, ctx: &Ctx<'_>, out: &mut Vec<Frame>) -> Result<(), Kind> {
        let hold = ctx.plan.timeout + HEARTBEAT_SLACK;
        match &mut self.recv {
            Recv::Ws(ws) => loop {
                let msg = match tokio::time::timeout(hold, ws.next()).await {
                    Err(_) => return Err(Kind::Borrowed("timeout")),
                    Ok(None) => return Err(Kind::Borrowed("eof")),
                    Ok(Some(Err(e))) => return Err(ws_kind(&e)),
                    Ok(Some(Ok(m))) => m,
                };
                match msg {
                    Message::Text(t) => {
                        if t.len() > ctx.sj.max_frame {
                            return Err(sockjs::TOO_LARGE);
                        }
                        out.push(sockjs::parse(t.as_str())?);
                        return Ok(());
                    }
                    Message::Binary(_) => return Err(sockjs::BAD_FRAME),
                    Message::Ping(_) => ws.flush().await.map_err(|e| ws_kind(&e))?,
                    Message::Close(f) => return Err(close_kind(ws, f).await),
                    Message::Pong(_) | Message::Frame(_) => {}
                }
            },
            Recv::Polling(conn) => {
                let path = ctx.paths.session(&self.id, "xhr");
                let resp = post(conn, ctx, &path, Bytes::new(), hold).await?;
                body_frames(resp, ctx.sj.max_frame, hold, out).await
            }
            Recv::Streaming { conn, body, lines } => loop {
                let Some(b) = body.as_mut() else {
                    let path = ctx.paths.session(&self.id, "xhr_streaming");
                    let resp = post(conn, ctx, &path, Bytes::new(), ctx.plan.timeout).await?;
                    *body = Some(resp.into_body());
                    continue;
                };
                match tokio::time::timeout(hold, b.frame()).await {
                    Err(_) => return Err(Kind::Borrowed("timeout")),
                    // The server's response limit: go on with a new request.
                    Ok(None) => {
                        *body = None;
                        lines.end(out)?;
                        if !out.is_empty() {
                            return Ok(());
                        }
                    }
                    Ok(Some(Err(e))) => return Err(error_kind(&e)),
                    Ok(Some(Ok(f))) => {
                        if let Ok(data) = f.into_data() {
                            lines.feed(&data, out)?;
                            if !out.is_empty() {
                                return Ok(());
                            }
                        }
                    }
                }
            },
        }
    }

    /// Sends `msgs` as one JSON array: a WebSocket text message, or a
    /// `POST .../xhr_send` (a request) on the session's sending connection.
    async fn send(&mut self, ctx: &Ctx<'_>, msgs: &[&str]) -> Result<(), Kind> {
        let body = sockjs::encode(msgs);
        if let Recv::Ws(ws) = &mut self.recv {
            return ws.send(Message::text(body)).await.map_err(|e| ws_kind(&e));
        }
        let plan = ctx.plan;
        let conn = match &mut self.send {
            Some(c) => c,
            None => self.send.insert(
                HttpConn::connect(ctx.addr, plan.sub.tls.as_ref(), plan.timeout, ctx.io).await?,
            ),
        };
        let path = ctx.paths.session(&self.id, "xhr_send");
        let resp = post(conn, ctx, &path, Bytes::from(body), plan.timeout).await?;
        // Read the (empty, 204) answer so that the connection can be reused.
        let read = Limited::new(resp.into_body(), 64 << 10).collect();
        match tokio::time::timeout(plan.timeout, read).await {
            Err(_) => Err(Kind::Borrowed("timeout")),
            Ok(Err(e)) => Err(body_error_kind(&*e)),
            Ok(Ok(_)) => Ok(()),
        }
    }
}

/// Receives until the session ends; returns why it ended.
async fn receive(sub: &mut Sub, ctx: &Ctx<'_>, mut session: Session) -> Kind {
    let polling = matches!(session.recv, Recv::Polling(_));
    let mut frames = Vec::new();
    loop {
        frames.clear();
        if let Err(kind) = session.next(ctx, &mut frames).await {
            return kind;
        }
        let mut delivered = false;
        for f in frames.drain(..) {
            match f {
                Frame::Messages(msgs) => {
                    for m in &msgs {
                        sub.deliver(m.as_bytes());
                    }
                    delivered |= !msgs.is_empty();
                }
                Frame::Heartbeat => {}
                Frame::Close { code, reason } => {
                    tracing::debug!(code, reason, "sockjs session closed");
                    return Frame::close_kind(code);
                }
                Frame::Open => return sockjs::BAD_FRAME,
            }
        }
        if polling && !delivered {
            sub.io.empty_polls.fetch_add(1, Relaxed);
        }
    }
}

/// Before a run with `--sockjs-transport websocket`: one uncounted
/// `GET <prefix>/info`, so that a server with WebSocket turned off
/// (`"websocket": false`) stops the run at once with a clear error instead
/// of failing every subscriber. Anything else (no answer, no `/info`) is
/// left to the run, which counts it.
pub(crate) async fn check_info(plan: &Plan, addr: SocketAddr) -> Result<(), LoadError> {
    let Some(sj) = plan.sockjs.as_ref() else {
        return Ok(());
    };
    if sj.mode != Mode::Websocket {
        return Ok(());
    }
    let scratch = Arc::new(SubIo::default());
    let vars = plan.sub_vars(0);
    let ctx = Ctx {
        plan,
        sj,
        addr,
        io: &scratch,
        paths: Paths::of(&plan.sub, &vars),
        vars,
    };
    let Ok(mut conn) = HttpConn::connect(addr, plan.sub.tls.as_ref(), plan.timeout, &scratch).await
    else {
        return Ok(());
    };
    match info(&mut conn, &ctx).await {
        Ok(i) if !i.websocket => Err(LoadError::InvalidOption {
            option: "sockjs-transport",
            reason: format!(
                "the server's {} says \"websocket\": false; use --sockjs-transport xhr-streaming or xhr-polling",
                ctx.paths.info()
            ),
        }),
        _ => Ok(()),
    }
}
