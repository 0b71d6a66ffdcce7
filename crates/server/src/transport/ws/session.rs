//! One WebSocket session: a send half and a receive half joined with
//! `first_of` (see `halves`), so either side's end closes both, then a
//! parting Close frame.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use pushpoll_netio::SpareRead;
use pushpoll_wire::{frame, Kind};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info};

use crate::connection::ConnState;
use crate::hub::{Gap, Recv, Subscriber};
use crate::metrics::{PerTransport, Transport};
use crate::signal::Signal;
use crate::transport::{lag_guard, Delivered, Interrupted};
use crate::Shared;

/// tungstenite reads through [`SpareRead`], so its own read buffer can stay
/// small (`ws_read_buffer_bytes`) without a system call per small read, and
/// an idle socket holds no read bytes.
type Ws = WebSocketStream<SpareRead<TokioIo<Upgraded>>>;

/// Messages taken from the hub per read.
const BATCH: usize = 64;
/// Reads from the hub between two flushes, so that a publisher that never
/// pauses cannot keep the tail of the write buffer waiting.
const BATCHES_PER_FLUSH: usize = 16;
/// Room in the write buffer beyond one message, for control frames.
const CONTROL_ROOM: usize = 1024;

/// How a session ended, and so what goes in its Close frame.
#[derive(Debug)]
enum End {
    /// The peer sent Close; tungstenite has queued the echo.
    PeerClosed(Option<CloseFrame>),
    /// The socket failed or hit EOF: nothing more can be said.
    PeerGone(String),
    /// Nothing arrived for a ping interval plus the pong timeout.
    PongTimeout,
    /// Close `1001`.
    Shutdown,
    /// Close `1008`.
    SlowConsumer { behind: u64, since: u64 },
    /// Plain mode only: close `4410` (too old) or `4409` (ahead).
    Gap(Gap),
    /// The peer broke the protocol or a limit: close with this code.
    Refused(CloseCode, String),
}

impl End {
    fn from_read_error(e: WsError) -> End {
        match e {
            WsError::Capacity(e) => End::Refused(CloseCode::Size, e.to_string()),
            WsError::Utf8(_) => End::Refused(CloseCode::Invalid, "text frame is not UTF-8".into()),
            WsError::Protocol(e) => End::Refused(CloseCode::Protocol, e.to_string()),
            other => End::PeerGone(other.to_string()),
        }
    }

    /// The Close frame to send, if any.
    fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            End::PeerClosed(_) | End::PeerGone(_) | End::PongTimeout => return None,
            End::Shutdown => (CloseCode::Away, "server shutting down".to_owned()),
            End::SlowConsumer { behind, since } => (
                CloseCode::Policy,
                format!("slow consumer: {behind} messages behind; resume with since={since}"),
            ),
            End::Gap(gap) if gap.is_ahead() => (
                CloseCode::from(4409),
                format!(
                    "since={} is ahead of last_seq={}",
                    gap.requested_since, gap.last_seq
                ),
            ),
            End::Gap(gap) => (
                CloseCode::from(4410),
                format!(
                    "since={} is older than history; oldest_seq={}",
                    gap.requested_since, gap.oldest_seq
                ),
            ),
            End::Refused(code, reason) => (*code, reason.clone()),
        };
        Some(CloseFrame {
            code,
            reason: truncate(reason, 123).into(),
        })
    }
}

/// A Close reason must fit in a control frame (123 bytes).
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
    s
}

/// Runs the session of an upgraded socket until either side ends it.
///
/// Takes the parts of a [`PendingUpgrade`](crate::connection::PendingUpgrade) one by one: an `async fn` keeps
/// its arguments in its state for its whole life, so destructuring one
/// argument would hold the subscriber twice.
pub(crate) async fn session(
    on_upgrade: OnUpgrade,
    mut sub: Subscriber,
    v1: bool,
    shared: &Arc<Shared>,
    conn: &ConnState,
) {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            debug!(peer = %conn.peer, error = %e, "websocket upgrade failed");
            return;
        }
    };
    let limits = &shared.limits;
    let config = WebSocketConfig::default()
        .read_buffer_size(limits.ws_read_buffer_bytes)
        .write_buffer_size(limits.ws_write_buffer_bytes)
        .max_write_buffer_size(
            limits.ws_write_buffer_bytes
                + limits.max_payload_bytes()
                + frame::HEADER_LEN
                + CONTROL_ROOM,
        )
        .max_message_size(Some(limits.ws_max_message_bytes))
        .max_frame_size(Some(limits.ws_max_frame_bytes));
    // Boxed, as the Close below: the session's own future, held while the
    // socket idles, keeps no room for building the stream (about 600 bytes).
    let ws = Box::pin(WebSocketStream::from_raw_socket(
        SpareRead::new(TokioIo::new(upgraded)),
        Role::Server,
        Some(config),
    ))
    .await;
    let _open = shared.metrics.open(Transport::Ws);
    let mode = if v1 { SUBPROTOCOL_NAME } else { "plain" };
    info!(peer = %conn.peer, mode, cursor = sub.cursor(), "websocket connected");

    let (mut sink, mut stream) = ws.split();
    let delivered = Delivered::new(sub.cursor());
    let ping_due = PingDue::default();
    let end = super::halves::first_of(
        send_loop(&mut sink, &mut sub, v1, shared, &delivered, &ping_due),
        receive_loop(&mut stream, shared, &ping_due),
    )
    .await;
    if let End::SlowConsumer { .. } = end {
        shared.metrics.slow_consumers.add(Transport::Ws, 1);
    }

    let close = end.close_frame();
    let parting = async {
        if let Some(frame) = &close {
            if sink.send(Message::Close(Some(frame.clone()))).await.is_ok() {
                // Read until the peer's Close echo ends the stream.
                while let Some(Ok(msg)) = stream.next().await {
                    if msg.is_close() {
                        break;
                    }
                }
            }
        } else if matches!(end, End::PeerClosed(_)) {
            // Send the echo of the peer's Close that tungstenite queued.
            let _ = sink.flush().await;
        }
    };
    // Boxed: the session's own future keeps no room for its last words.
    let _ = Box::pin(tokio::time::timeout(limits.close_timeout, parting)).await;

    match (&end, &close) {
        (End::PeerClosed(frame), _) => {
            let (code, reason) = frame.as_ref().map_or((1005, String::new()), |f| {
                (u16::from(f.code), f.reason.to_string())
            });
            info!(peer = %conn.peer, code, reason, "websocket closed by the client");
        }
        (_, Some(frame)) => info!(
            peer = %conn.peer,
            code = u16::from(frame.code),
            reason = %frame.reason,
            "websocket closed by the server"
        ),
        (End::PeerGone(error), None) => {
            info!(peer = %conn.peer, error, "websocket connection lost")
        }
        (_, None) => info!(peer = %conn.peer, "websocket dropped: no pong"),
    }
}

const SUBPROTOCOL_NAME: &str = frame::SUBPROTOCOL;

/// The receive half's request for a Ping, which the send half writes.
///
/// No waker: `first_of` polls the receive half before the send half, and
/// polls the send half on every wake of the task, so a request made while
/// the receive half runs is seen by the send half in the same poll.
#[derive(Debug, Default)]
struct PingDue(AtomicBool);

impl PingDue {
    fn request(&self) {
        self.0.store(true, Relaxed);
    }

    /// Resolves once a Ping was requested since the last time it resolved.
    fn requested(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(|_| {
            if self.0.load(Relaxed) && self.0.swap(false, Relaxed) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
    }
}

/// Adds what it counted to a counter when dropped, so messages handed to the
/// socket are counted even if the write is interrupted.
struct CountOnDrop<'a> {
    counter: &'a PerTransport,
    n: u64,
}

impl Drop for CountOnDrop<'_> {
    fn drop(&mut self) {
        self.counter.add(Transport::Ws, self.n);
    }
}

/// Hub → client: hello (v1), then every message after the cursor, and a
/// Ping whenever the receive half asks for one (every `ws_ping_interval`).
async fn send_loop(
    sink: &mut SplitSink<Ws, Message>,
    sub: &mut Subscriber,
    v1: bool,
    shared: &Shared,
    delivered: &Delivered,
    ping_due: &PingDue,
) -> End {
    // The server's shutdown (what `ConnState::stop` is), not an argument:
    // one reference less in the state an idle socket holds.
    let stop = &*shared.shutdown;
    let limits = &shared.limits;
    // Grows with the first messages: an idle socket holds no batch.
    let mut batch = Vec::new();
    if v1 {
        let hello = Message::Binary(frame::encode_hello(sub.start_last_seq()));
        if let Some(end) = send_guarded(sink, hello, shared, stop, delivered).await {
            return end;
        }
    }
    let stopped = stop.raised();
    tokio::pin!(stopped);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut stopped => return End::Shutdown,
            () = ping_due.requested() => None,
            r = sub.recv(&mut batch, BATCH) => Some(r),
        };
        let end = match next {
            None => {
                let ping = Message::Ping(Bytes::new());
                send_guarded(sink, ping, shared, stop, delivered).await
            }
            Some(first) => {
                let write = write_pending(sink, sub, &mut batch, first, v1, shared, delivered);
                // Boxed, and freed once written: the loop's own future,
                // held while the socket idles, keeps no room for a write
                // (about 800 bytes per idle WebSocket, for one allocation
                // per batch written).
                match Box::pin(lag_guard(
                    write,
                    &shared.hub,
                    delivered,
                    limits.max_subscriber_lag,
                    stop,
                ))
                .await
                {
                    Ok(Err(end)) => Some(end),
                    Ok(Ok(written)) => interrupted(Ok(written)),
                    Err(i) => interrupted(Err(i)),
                }
            }
        };
        if let Some(end) = end {
            return end;
        }
    }
}

/// Sends one message (and flushes), as long as the peer keeps up.
async fn send_guarded(
    sink: &mut SplitSink<Ws, Message>,
    msg: Message,
    shared: &Shared,
    stop: &Signal,
    delivered: &Delivered,
) -> Option<End> {
    let max_lag = shared.limits.max_subscriber_lag;
    interrupted(
        Box::pin(lag_guard(
            sink.send(msg),
            &shared.hub,
            delivered,
            max_lag,
            stop,
        ))
        .await,
    )
}

/// Maps the outcome of a guarded write to how the session ends, if it does.
fn interrupted(result: Result<Result<(), WsError>, Interrupted>) -> Option<End> {
    match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(End::PeerGone(e.to_string())),
        Err(Interrupted::Shutdown) => Some(End::Shutdown),
        Err(Interrupted::SlowConsumer { behind, since }) => {
            Some(End::SlowConsumer { behind, since })
        }
    }
}

/// Feeds `first` and everything else already published, then flushes once.
async fn write_pending(
    sink: &mut SplitSink<Ws, Message>,
    sub: &mut Subscriber,
    batch: &mut Vec<Arc<crate::hub::Message>>,
    first: Recv,
    v1: bool,
    shared: &Shared,
    delivered: &Delivered,
) -> Result<Result<(), WsError>, End> {
    let mut counted = CountOnDrop {
        counter: &shared.metrics.deliveries,
        n: 0,
    };
    let mut next = first;
    for round in 1.. {
        match next {
            Recv::Gap(gap) => {
                shared.metrics.gap_notices.add(Transport::Ws, 1);
                if !v1 {
                    return Err(End::Gap(gap));
                }
                let notice =
                    Message::Binary(frame::encode_gap(gap.requested_since, gap.oldest_seq));
                if let Err(e) = sink.feed(notice).await {
                    return Ok(Err(e));
                }
                delivered.set(sub.cursor());
            }
            Recv::Messages => {
                for m in batch.drain(..) {
                    let msg = if v1 {
                        Message::Binary(m.v1_frame().clone())
                    } else {
                        m.plain_ws()
                    };
                    if let Err(e) = sink.feed(msg).await {
                        return Ok(Err(e));
                    }
                    delivered.set(m.seq());
                    counted.n += 1;
                }
            }
        }
        if round == BATCHES_PER_FLUSH {
            break;
        }
        match sub.try_recv(batch, BATCH) {
            Some(r) => next = r,
            None => break,
        }
    }
    // Anything still pending is picked up by the next `recv`, at once.
    Ok(sink.flush().await)
}

/// Client → hub: every text or binary frame is published, sender included.
/// Also the session's one timer: it asks the send half for a Ping every
/// `ws_ping_interval` and ends the session when the peer stays silent too
/// long (one `Sleep` per WebSocket rather than one per half: about 130
/// bytes per idle connection). It stays here, not in the send half, so a
/// silent peer is noticed even while a write to it is blocked.
async fn receive_loop(stream: &mut SplitStream<Ws>, shared: &Shared, ping_due: &PingDue) -> End {
    let limits = &shared.limits;
    // Pings go out every interval, so a live peer is never silent longer
    // than an interval plus the time it takes to answer one. (Computed where
    // needed rather than kept: the idle state is this loop's.)
    let silence = || limits.ws_ping_interval + limits.ws_pong_timeout;
    let mut last_seen = Instant::now();
    let mut next_ping = last_seen + limits.ws_ping_interval;
    // Not reset per frame (that would touch the timer wheel per message):
    // when it fires, it is set to the next ping or to `silence` after the
    // last frame, whichever comes first.
    let timer = tokio::time::sleep_until(next_ping.min(last_seen + silence()));
    tokio::pin!(timer);
    loop {
        let next = tokio::select! {
            biased;
            next = stream.next() => next,
            () = &mut timer => {
                let now = Instant::now();
                if last_seen + silence() <= now {
                    return End::PongTimeout;
                }
                if next_ping <= now {
                    ping_due.request();
                    next_ping = now + limits.ws_ping_interval;
                }
                timer.as_mut().reset(next_ping.min(last_seen + silence()));
                continue;
            }
        };
        last_seen = Instant::now();
        match next {
            None => return End::PeerGone("connection closed".into()),
            Some(Err(e)) => return End::from_read_error(e),
            Some(Ok(msg)) => match msg {
                Message::Text(text) => {
                    shared.hub.publish(Kind::Text, Bytes::from(text));
                }
                Message::Binary(bytes) => {
                    shared.hub.publish(Kind::Binary, bytes);
                }
                Message::Close(frame) => return End::PeerClosed(frame),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            },
        }
    }
}
