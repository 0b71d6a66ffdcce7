//! Publishers: each sends its share of the open-loop schedule, either as text
//! frames on its own WebSocket (what the notes' browser page does) or as
//! `POST`s of the payload, one at a time by default so that the server
//! accepts each publisher's messages in order (`--publish-in-flight` allows
//! more, at the price of reorders the generator itself causes).
//!
//! A message counts as published when the server accepted it: the frame was
//! written, or the `POST` got a 2xx. Every message that was not is counted
//! once in `errors` as `publish_<kind>`. Publisher sockets are not subscriber
//! sockets: their bytes and requests are counted apart, in one [`PubIo`],
//! for the sender's side of a message.
//!
//! Open loop holds while the server is down too: a publisher that cannot
//! connect keeps every message whose time came and sends it, late, once it
//! reconnects (with its scheduled time in the marker, so the outage shows
//! in latency). Failed connection attempts are counted apart, as
//! `publisher_connect_<kind>`. Only messages still unsent `--timeout`
//! after the last one was due count as `publish_unsent`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use http::{header, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use pushpoll_netio::Counted;
use pushpoll_wire::engineio::{self, Packet, SioPacket};
use pushpoll_wire::marker::Marker;
use pushpoll_wire::prometheus;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::config::headers::RequestKind;
use crate::config::plan::{Plan, PublishTarget, Target};
use crate::config::trust::TlsTarget;
use crate::core::acks::Acks;
use crate::core::error::{error_kind, status_kind, ErrorCounts, Kind};
use crate::core::progress::Live;
use crate::core::schedule::{self, Clock};
use crate::core::tally::RangeSet;
use crate::net::count::PubIo;
use crate::net::tls::{Connector, PubStream as PubSocket};
use crate::proto::http::{body_error_kind, USER_AGENT};
use crate::proto::ws::ws_kind;
use crate::proto::{socketio, sockjs};
use crate::roles::reconnect::{Reconnect, RECONNECT_MAX, RECONNECT_MIN};

/// Largest publish answer read, bytes.
const MAX_ANSWER: usize = 64 << 10;

/// What publishers share.
pub(crate) struct PubEnv {
    pub plan: Plan,
    pub addr: SocketAddr,
    pub run_id: u32,
    pub clock: Clock,
    pub live: Arc<Live>,
    /// What each publisher resolved so far, read live by the subscribers.
    pub acks: Arc<Acks>,
    /// Cancelled to stop publishing early (Ctrl-C).
    pub stop: CancellationToken,
    /// Publisher connections, kept open after their last publish until the
    /// run ends: hanging up at once could cut off messages a slow relay has
    /// not read yet (they wait in its receive buffer, and a close with
    /// unread data is a reset), which would count as lost.
    pub parked: std::sync::Mutex<Vec<WsPub>>,
    /// The publishers' sockets, counted (the sender's cost).
    pub io: Arc<PubIo>,
}

/// What one publisher did.
#[derive(Debug, Default)]
pub(crate) struct PubReport {
    /// Sequence numbers the server accepted.
    pub acked: RangeSet,
    /// Messages whose time came (whether or not they were accepted).
    pub attempted: u64,
    /// Payload bytes of accepted messages.
    pub payload_bytes: u64,
    pub errors: ErrorCounts,
}

impl PubReport {
    pub(crate) fn ok(&mut self, live: &Live, seq: u64, len: usize) {
        self.acked.insert(seq);
        self.payload_bytes += len as u64;
        live.published.fetch_add(1, Relaxed);
    }

    pub(crate) fn failed(&mut self, live: &Live, kind: &str) {
        tracing::debug!(kind, "publish failed");
        let kind = format!("publish_{kind}");
        live.error(&kind);
        self.errors.add(Kind::Owned(kind));
    }

    /// A connection attempt failed (no message is lost by it: they wait).
    pub(crate) fn connect_failed(&mut self, live: &Live, kind: &str) {
        tracing::debug!(kind, "publisher connection failed");
        let kind = format!("publisher_connect_{kind}");
        live.error(&kind);
        self.errors.add(Kind::Owned(kind));
    }
}

/// When a publisher stops trying to send what it still holds: the last
/// message's due time plus `--timeout`.
pub(crate) fn send_deadline(env: &PubEnv, t0: Instant) -> Instant {
    let last = env.plan.total_messages.saturating_sub(1);
    t0 + env.plan.schedule.offset(last) + env.plan.timeout
}

/// A publisher's WebSocket: the write half, and a task that reads and
/// discards what the server sends back (a relay sends every message to the
/// publisher too, and an unread socket would stall it).
pub(crate) struct WsPub {
    /// Shared with the reader, which answers Socket.IO pings.
    sink: Arc<tokio::sync::Mutex<WsSink>>,
    reader: JoinHandle<()>,
}

/// A publisher's WebSocket, TLS included for `wss://`, counted into the
/// publishers' [`PubIo`] below TLS.
type PubStream = WebSocketStream<PubSocket>;
type WsSink = SplitSink<PubStream, Message>;

impl Drop for WsPub {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Opens publisher `p`'s connection: a WebSocket (which then runs the
/// `--on-connect` steps), a Socket.IO connection over the WebSocket
/// transport, or a SockJS session over WebSocket (steps as messages).
pub(crate) async fn connect(
    plan: &Plan,
    addr: SocketAddr,
    p: usize,
    io: &Arc<PubIo>,
) -> Result<WsPub, Kind> {
    match &plan.publish {
        PublishTarget::Ws(t) => {
            let vars = plan.pub_vars(p);
            let mut ws = handshake(t.url_for(&vars).as_str(), t, addr, plan, p, io).await?;
            crate::proto::ws::run_steps(&mut ws, &plan.steps, &vars, plan.timeout).await?;
            Ok(WsPub::over(ws, false))
        }
        PublishTarget::SocketIo(t) => {
            let vars = plan.pub_vars(p);
            let url = socketio::ws_url(t, &vars, None);
            let mut ws = handshake(&url, t, addr, plan, p, io).await?;
            let sio = plan.socketio.as_ref().ok_or(Kind::Borrowed("internal"))?;
            let packet = socketio::connect_packet(sio, &vars);
            tokio::time::timeout(plan.timeout, sio_connect(&mut ws, &packet, &sio.namespace))
                .await
                .unwrap_or(Err(Kind::Borrowed("timeout")))?;
            socketio::ws_steps(&mut ws, &plan.steps, &vars, sio, plan.timeout).await?;
            Ok(WsPub::over(ws, true))
        }
        PublishTarget::SockJs(t) => {
            let vars = plan.pub_vars(p);
            let url = sockjs::ws_url(t, &vars, &sockjs::SessionId::random());
            let mut ws = handshake(&url, t, addr, plan, p, io).await?;
            crate::proto::sockjs_ws::open(&mut ws, &plan.steps, &vars, plan.timeout).await?;
            Ok(WsPub::over(ws, false))
        }
        PublishTarget::Post(_) | PublishTarget::Bayeux(_) => Err(Kind::Borrowed("internal")),
    }
}

/// What publisher `p` sends for one message: the payload, or the
/// `--publish-template` around it.
fn message_text(plan: &Plan, p: usize, payload: String) -> String {
    match &plan.publish_template {
        Some(t) => t.render(&plan.pub_vars(p), &payload),
        None => payload,
    }
}

/// Opens a publisher WebSocket (with the extra headers and generic
/// subprotocols of the plan, never `pushpoll.v1`).
async fn handshake(
    url: &str,
    target: &Target,
    addr: SocketAddr,
    plan: &Plan,
    p: usize,
    io: &Arc<PubIo>,
) -> Result<PubStream, Kind> {
    let timeout = plan.timeout;
    let req =
        crate::proto::ws::request(url, None, plan, &plan.pub_vars(p)).map_err(|e| ws_kind(&e))?;
    let tcp = crate::net::connect::connect_tcp(addr, timeout).await?;
    let tcp = Counted::new(tcp, io.clone());
    let tcp = crate::net::tls::wrap(tcp, target.tls.as_ref(), timeout).await?;
    io.request();
    let handshake =
        tokio_tungstenite::client_async_with_config(req, tcp, Some(crate::proto::ws::config()));
    match tokio::time::timeout(timeout, handshake).await {
        Err(_) => Err(Kind::Borrowed("timeout")),
        Ok(Err(e)) => Err(ws_kind(&e)),
        Ok(Ok((ws, _))) => Ok(ws),
    }
}

impl WsPub {
    /// A publisher over an open WebSocket; with `sio` (a Socket.IO session
    /// on it), its reader answers the server's pings.
    fn over(ws: PubStream, sio: bool) -> WsPub {
        let (sink, mut stream) = ws.split();
        let sink = Arc::new(tokio::sync::Mutex::new(sink));
        let pong = sink.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let (true, Message::Text(t)) = (sio, &msg) {
                    if let Packet::Ping(d) = engineio::packet(t.as_str()) {
                        let answer = Message::text(engineio::pong(d));
                        if pong.lock().await.send(answer).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        WsPub { sink, reader }
    }
}

/// Opens a Socket.IO session on a WebSocket transport and connects to the
/// namespace with `packet` (namespace and auth).
async fn sio_connect(ws: &mut PubStream, packet: &str, nsp: &str) -> Result<(), Kind> {
    let mut opened = false;
    loop {
        let text = match ws.next().await {
            None => return Err(Kind::Borrowed("eof")),
            Some(Err(e)) => return Err(ws_kind(&e)),
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(_)) => continue,
        };
        match engineio::packet(text.as_str()) {
            Packet::Open(_) if !opened => {
                opened = true;
                ws.send(Message::text(packet))
                    .await
                    .map_err(|e| ws_kind(&e))?;
            }
            Packet::Ping(d) => {
                let answer = Message::text(engineio::pong(d));
                ws.send(answer).await.map_err(|e| ws_kind(&e))?;
            }
            Packet::Message(m) => match engineio::sio_in(m, nsp, "") {
                SioPacket::Connect => return Ok(()),
                SioPacket::ConnectError => return Err(Kind::Borrowed("sio_connect_error")),
                _ => {}
            },
            Packet::Close => return Err(Kind::Borrowed("sio_close")),
            _ => {}
        }
    }
}

/// Waits for message `i`'s time; false when publishing was stopped.
pub(crate) async fn due(env: &PubEnv, t0: Instant, p: usize, i: u64) -> Option<Marker> {
    let k = schedule::global_index(i, p, env.plan.publishers);
    let at = t0 + env.plan.schedule.offset(k);
    tokio::select! {
        biased;
        _ = env.stop.cancelled() => return None,
        _ = tokio::time::sleep_until(at) => {}
    }
    Some(Marker {
        run_id: env.run_id,
        publisher: p as u32,
        seq: i,
        scheduled_us: env.clock.unix_us(at),
    })
}

/// Publisher `p` over its WebSocket (`conn`, opened beforehand when possible).
pub(crate) async fn run_ws(
    env: Arc<PubEnv>,
    p: usize,
    t0: Instant,
    mut conn: Option<WsPub>,
) -> PubReport {
    let sio = env.plan.socketio.as_ref();
    let sockjs = matches!(env.plan.publish, PublishTarget::SockJs(_));
    let timeout = env.plan.timeout;
    let end = send_deadline(&env, t0);
    let mut report = PubReport::default();
    let mut reconnect = Reconnect::new();
    let count = schedule::messages_for(p, env.plan.publishers, env.plan.total_messages);
    let mut i = 0;
    while i < count {
        let Some(marker) = due(&env, t0, p, i).await else {
            break;
        };
        // No connection: keep the message and retry until it can be sent
        // (late, its scheduled time kept) or the send deadline passes.
        let open = || connect(&env.plan, env.addr, p, &env.io);
        let failed = |kind: &Kind| report.connect_failed(&env.live, kind);
        if !reconnect
            .ensure(&mut conn, &env.stop, end, open, failed)
            .await
        {
            break;
        }
        let Some(c) = conn.as_mut() else { break };
        report.attempted += 1;
        i += 1;
        let payload = marker.payload(env.plan.payload_bytes);
        let len = payload.len();
        let payload = message_text(&env.plan, p, payload);
        let frame = match sio {
            // A template is the whole event array.
            Some(s) if env.plan.publish_template.is_some() => {
                Message::text(engineio::emit_array(&s.namespace, &payload))
            }
            Some(s) => Message::text(engineio::emit_array(
                &s.namespace,
                &serde_json::json!([s.event, payload]).to_string(),
            )),
            None if sockjs => Message::text(sockjs::encode(&[&payload])),
            None if env.plan.binary => Message::binary(payload.into_bytes()),
            None => Message::text(payload),
        };
        let send = async { c.sink.lock().await.send(frame).await };
        let result = match tokio::time::timeout(timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ws_kind(&e)),
            Err(_) => Err(Kind::Borrowed("timeout")),
        };
        env.acks.resolve(p, marker.seq, result.is_ok());
        match result {
            Ok(()) => report.ok(&env.live, marker.seq, len),
            Err(kind) => {
                report.failed(&env.live, &kind);
                conn = None;
                reconnect.lost();
            }
        }
    }
    // Messages whose time came but that could not be sent before the
    // deadline (not those a Ctrl-C kept from falling due).
    if !env.stop.is_cancelled() {
        for seq in i..count {
            report.attempted += 1;
            report.failed(&env.live, "unsent");
            env.acks.resolve(p, seq, false);
        }
    }
    if let Some(c) = conn {
        env.parked.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }
    report
}

type PostClient = Client<Connector, Full<Bytes>>;

/// A keep-alive `POST` client (its own pool per publisher), TLS for
/// `https://`, its sockets counted into `io`.
fn post_client(tls: Option<&TlsTarget>, timeout: Duration, io: Arc<PubIo>) -> PostClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(Connector::new(tls, timeout).counting(io))
}

/// How one `POST` went: `Err(Connect)` when no connection could be made,
/// so the request was never sent and may be retried.
enum PostError {
    Connect(Kind),
    Failed(Kind),
}

async fn post(
    client: &PostClient,
    uri: &http::Uri,
    plan: &Plan,
    p: usize,
    payload: Bytes,
    timeout: Duration,
) -> Result<(), PostError> {
    let req = Request::post(uri.clone())
        .header(header::HOST, plan.publish.target().authority.as_str())
        .header(header::CONTENT_TYPE, plan.publish_content_type.clone());
    let req = plan
        .request_headers(RequestKind::Publish, req, &plan.pub_vars(p))
        .body(Full::new(payload))
        .map_err(|_| PostError::Failed(Kind::Borrowed("protocol")))?;
    let fut = async {
        let resp = client.request(req).await.map_err(|e| {
            if e.is_connect() {
                PostError::Connect(error_kind(&e))
            } else {
                PostError::Failed(error_kind(&e))
            }
        })?;
        let status = resp.status();
        // Read the answer so that the connection can be reused.
        Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| PostError::Failed(body_error_kind(&*e)))?;
        if status.is_success() {
            Ok(())
        } else {
            Err(PostError::Failed(status_kind(status.as_u16())))
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or(Err(PostError::Failed(Kind::Borrowed("timeout"))))
}

/// What one `POST` task reports: its message, payload length, how it
/// ended, and the failed connection attempts before it was sent.
struct Posted {
    seq: u64,
    len: usize,
    result: Result<(), Kind>,
    connect_failures: Vec<Kind>,
}

/// Sends one message by `POST`; a connection that cannot be made is tried
/// again with backoff (the request was never sent, so this cannot
/// duplicate it) until `end`, after which the message is `unsent`.
async fn post_until(
    client: &PostClient,
    uri: &http::Uri,
    plan: &Plan,
    p: usize,
    payload: Bytes,
    end: Instant,
    io: &PubIo,
) -> (Result<(), Kind>, Vec<Kind>) {
    let mut failures = Vec::new();
    let mut step = RECONNECT_MIN;
    loop {
        let result = post(client, uri, plan, p, payload.clone(), plan.timeout).await;
        // A request that found a connection was sent (answered or not).
        if !matches!(result, Err(PostError::Connect(_))) {
            io.request();
        }
        match result {
            Ok(()) => return (Ok(()), failures),
            Err(PostError::Failed(kind)) => return (Err(kind), failures),
            Err(PostError::Connect(kind)) => failures.push(kind),
        }
        let at = Instant::now() + step;
        if at >= end {
            return (Err(Kind::Borrowed("unsent")), failures);
        }
        tokio::time::sleep_until(at).await;
        step = (step * 2).min(RECONNECT_MAX);
    }
}

/// Publisher `p` by `POST`.
pub(crate) async fn run_post(env: Arc<PubEnv>, p: usize, t0: Instant) -> PubReport {
    let target = env.plan.publish.target();
    let mut report = PubReport::default();
    let count = schedule::messages_for(p, env.plan.publishers, env.plan.total_messages);
    let Ok(uri) = target
        .url_for(&env.plan.pub_vars(p))
        .as_str()
        .parse::<http::Uri>()
    else {
        report.failed(&env.live, "bad_url");
        return report;
    };
    let end = send_deadline(&env, t0);
    let client = post_client(target.tls.as_ref(), env.plan.timeout, env.io.clone());
    let slots = Arc::new(Semaphore::new(env.plan.publish_in_flight));
    let mut in_flight: JoinSet<Posted> = JoinSet::new();
    let handle = |report: &mut PubReport, r: Result<Posted, tokio::task::JoinError>| match r {
        Ok(posted) => {
            for kind in &posted.connect_failures {
                report.connect_failed(&env.live, kind);
            }
            env.acks.resolve(p, posted.seq, posted.result.is_ok());
            match posted.result {
                Ok(()) => report.ok(&env.live, posted.seq, posted.len),
                Err(kind) => report.failed(&env.live, &kind),
            }
        }
        // Its seq is unknown here; `Tally::finish` resolves it exactly.
        Err(_) => report.failed(&env.live, "internal"),
    };
    let mut i = 0;
    while i < count {
        let Some(marker) = due(&env, t0, p, i).await else {
            break;
        };
        let permit = tokio::select! {
            biased;
            _ = env.stop.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        report.attempted += 1;
        i += 1;
        while let Some(r) = in_flight.try_join_next() {
            handle(&mut report, r);
        }
        if Instant::now() >= end {
            report.failed(&env.live, "unsent");
            env.acks.resolve(p, marker.seq, false);
            continue;
        }
        let (client, uri, env2) = (client.clone(), uri.clone(), env.clone());
        let payload = marker.payload(env.plan.payload_bytes);
        let len = payload.len();
        let payload = Bytes::from(message_text(&env.plan, p, payload));
        in_flight.spawn(async move {
            let (result, connect_failures) =
                post_until(&client, &uri, &env2.plan, p, payload, end, &env2.io).await;
            drop(permit);
            Posted {
                seq: marker.seq,
                len,
                result,
                connect_failures,
            }
        });
    }
    // Every POST is bounded by the timeout and `end`, so this ends.
    while let Some(r) = in_flight.join_next().await {
        handle(&mut report, r);
    }
    report
}

/// Reads `process_cpu_seconds_total` from a Prometheus endpoint.
pub(crate) async fn scrape_cpu(target: &Target, timeout: Duration) -> Result<f64, Kind> {
    let uri: http::Uri = target
        .url
        .as_str()
        .parse()
        .map_err(|_| Kind::Borrowed("bad_url"))?;
    let client: Client<Connector, http_body_util::Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(Connector::new(target.tls.as_ref(), timeout));
    let fut = async {
        let req = Request::get(uri)
            .header(header::USER_AGENT, USER_AGENT)
            .body(http_body_util::Empty::new())
            .map_err(|_| Kind::Borrowed("protocol"))?;
        let resp = client.request(req).await.map_err(|e| error_kind(&e))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), 4 << 20)
            .collect()
            .await
            .map_err(|e| body_error_kind(&*e))?
            .to_bytes();
        if !status.is_success() {
            return Err(status_kind(status.as_u16()));
        }
        prometheus::value(&String::from_utf8_lossy(&body), "process_cpu_seconds_total")
            .ok_or(Kind::Borrowed("no_process_cpu_seconds_total"))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or(Err(Kind::Borrowed("timeout")))
}
