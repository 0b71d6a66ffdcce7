//! One WebSocket session: a send half and a receive half joined with
//! `first_of` (see `halves`), so either side's end closes both, then a
//! parting Close frame. tungstenite reads; the send half writes frames the
//! hub encoded once per message (see `out`).

use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use pushpoll_netio::SpareRead;
use pushpoll_wire::{frame, ws, Kind};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info};

use super::direct::{Outlet, Unparked};
use super::out::{Inbound, Outbound, Socket};
use crate::connection::ConnState;
use crate::hub::{self, Gap, Recv, Subscriber};
use crate::metrics::Transport;
use crate::signal::Signal;
use crate::transport::{lag_guard, Delivered, Interrupted};
use crate::Shared;

/// The upgraded socket.
type Io = TokioIo<Upgraded>;

/// tungstenite reads through [`SpareRead`], so its own read buffer can stay
/// small (`ws_read_buffer_bytes`) without a system call per small read, and
/// an idle socket holds no read bytes.
type Ws<'a> = WebSocketStream<SpareRead<Inbound<'a, Io>>>;

/// Messages taken from the hub per read.
const BATCH: usize = 64;
/// Reads from the hub per chunk at most, so that a publisher that never
/// pauses cannot keep a chunk growing.
const BATCHES_PER_CHUNK: usize = 16;

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
            // EOF without a Close: nobody is left to read one.
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                End::PeerGone("connection closed without a Close frame".into())
            }
            WsError::Protocol(e) => End::Refused(CloseCode::Protocol, e.to_string()),
            other => End::PeerGone(other.to_string()),
        }
    }

    /// The code and reason of the Close frame to send, if any.
    fn close(&self) -> Option<(u16, String)> {
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
        Some((u16::from(code), reason))
    }
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
    // tungstenite writes only control frames (to `out`'s buffer, which
    // takes them whole at once): its own write buffer stays empty.
    let config = WebSocketConfig::default()
        .read_buffer_size(limits.ws_read_buffer_bytes)
        .write_buffer_size(0)
        .max_write_buffer_size(ws::MAX_CONTROL_PAYLOAD * 4)
        .max_message_size(Some(limits.ws_max_message_bytes))
        .max_frame_size(Some(limits.ws_max_frame_bytes));
    let socket = Socket::new(TokioIo::new(upgraded));
    // Boxed, as the Close below: the session's own future, held while the
    // socket idles, keeps no room for building the stream (about 600 bytes).
    let mut stream = Box::pin(WebSocketStream::from_raw_socket(
        SpareRead::new(Inbound(&socket)),
        Role::Server,
        Some(config),
    ))
    .await;
    let mut out = Outbound::new(&socket);
    // After `socket`, so dropped before it: a publisher never writes to a
    // descriptor that was closed (and maybe reused).
    let outlet = shared.ws_outlets.open(conn.plain_fd, v1, sub.cursor());
    let _open = shared.metrics.open(Transport::Ws);
    let mode = if v1 { SUBPROTOCOL_NAME } else { "plain" };
    info!(peer = %conn.peer, mode, cursor = sub.cursor(), "websocket connected");

    let delivered = Delivered::new(sub.cursor());
    let end = super::halves::first_of(
        send_loop(&mut out, &socket, &outlet, &mut sub, v1, shared, &delivered),
        receive_loop(&mut stream, &socket, &outlet, shared),
    )
    .await;
    // Publishers stop writing before the session's last words.
    take_over(outlet.close(), &mut sub, &mut out, &delivered);
    if let End::SlowConsumer { .. } = end {
        shared.metrics.slow_consumers.add(Transport::Ws, 1);
    }

    let close = end.close();
    let parting = async {
        if let Some((code, reason)) = &close {
            // After what is left of the chunk being written.
            out.push(ws::close_frame(*code, reason));
            if out.write_out().await.is_ok() {
                // Read until the peer's Close echo ends the stream.
                while let Some(Ok(msg)) = stream.next().await {
                    if msg.is_close() {
                        break;
                    }
                }
            }
        } else if matches!(end, End::PeerClosed(_)) {
            // Send the echo of the peer's Close that tungstenite queued.
            if stream.flush().await.is_ok() {
                let _ = out.write_out().await;
            }
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
        (_, Some((code, reason))) => info!(
            peer = %conn.peer,
            code,
            reason = %ws::fit_reason(reason),
            "websocket closed by the server"
        ),
        (End::PeerGone(error), None) => {
            info!(peer = %conn.peer, error, "websocket connection lost")
        }
        (_, None) => info!(peer = %conn.peer, "websocket dropped: no pong"),
    }
}

const SUBPROTOCOL_NAME: &str = frame::SUBPROTOCOL;

/// Messages taken from the hub and not yet framed: a chunk is cut at
/// `ws_write_buffer_bytes`, and what did not fit goes in the next one.
#[derive(Default)]
struct Taken {
    batch: Vec<Arc<hub::Message>>,
    next: usize,
}

impl Taken {
    fn is_empty(&self) -> bool {
        self.next == self.batch.len()
    }
}

/// Hub → client: hello (v1), then every message after the cursor, and the
/// control frames queued meanwhile (Pings, Pongs).
async fn send_loop(
    out: &mut Outbound<'_, Io>,
    socket: &Socket<Io>,
    outlet: &Outlet,
    sub: &mut Subscriber,
    v1: bool,
    shared: &Shared,
    delivered: &Delivered,
) -> End {
    // The server's shutdown, not an argument: one reference less in the
    // state an idle socket holds.
    let stop = &*shared.shutdown;
    // Grows with the first messages: an idle socket holds no batch.
    let mut taken = Taken::default();
    if v1 {
        let hello = frame::encode_hello(sub.start_last_seq());
        out.push(ws::server_frame(ws::Opcode::Binary, &hello));
        if let Some(end) = write_guarded(out, shared, stop, delivered).await {
            return end;
        }
    }
    loop {
        // Messages left from the last chunk go first; otherwise wait,
        // parked: publishers write to the socket meanwhile (`direct`).
        if taken.is_empty() {
            tokio::select! {
                biased;
                // Control frames (`write_out` takes them).
                () = socket.control_queued() => {}
                () = outlet.park(sub, stop) => {}
            }
            // Before a byte is written, whatever woke the session.
            take_over(outlet.unpark(), sub, out, delivered);
        }
        if stop.is_raised() {
            return End::Shutdown;
        }
        let (chunk, end) = frame_chunk(sub, &mut taken, v1, shared, delivered);
        if let Some(chunk) = chunk {
            out.push(chunk);
        }
        if let Some(end) = write_guarded(out, shared, stop, delivered).await {
            return end;
        }
        if let Some(end) = end {
            return end;
        }
    }
}

/// Frames what the hub holds for this subscriber (after what was taken and
/// not framed yet) into one chunk of about `ws_write_buffer_bytes` (at
/// least one frame): the shared frame itself when it is one, a copy of them
/// when several. Also how the session ends, when a plain client meets a gap
/// (after the frames before it).
fn frame_chunk(
    sub: &mut Subscriber,
    taken: &mut Taken,
    v1: bool,
    shared: &Shared,
    delivered: &Delivered,
) -> (Option<Bytes>, Option<End>) {
    let target = shared.limits.ws_write_buffer_bytes;
    let mut chunk = Chunk::default();
    let mut reads = 0;
    let end = loop {
        while !taken.is_empty() && (chunk.len() < target || chunk.is_empty()) {
            let m = &taken.batch[taken.next];
            chunk.add(m.ws_frame(v1));
            chunk.messages += 1;
            delivered.set(m.seq());
            taken.next += 1;
        }
        if !taken.is_empty() || chunk.len() >= target || reads == BATCHES_PER_CHUNK {
            break None;
        }
        taken.batch.clear();
        taken.next = 0;
        let Some(recv) = sub.try_recv(&mut taken.batch, BATCH) else {
            break None;
        };
        reads += 1;
        if let Recv::Gap(gap) = recv {
            shared.metrics.gap_notices.add(Transport::Ws, 1);
            if !v1 {
                break Some(End::Gap(gap));
            }
            let notice = frame::encode_gap(gap.requested_since, gap.oldest_seq);
            chunk.add(&ws::server_frame(ws::Opcode::Binary, &notice));
            delivered.set(sub.cursor());
        }
    };
    shared.metrics.deliveries.add(Transport::Ws, chunk.messages);
    (chunk.finish(), end)
}

/// Takes over from the publishers writing to a parked session: the cursor
/// they moved, and the rest of a frame one of them began, written first.
fn take_over(
    unparked: Unparked,
    sub: &mut Subscriber,
    out: &mut Outbound<'_, Io>,
    delivered: &Delivered,
) {
    if unparked.cursor > sub.cursor() {
        sub.advance_to(unparked.cursor);
        delivered.set(unparked.cursor);
    }
    if let Some(rest) = unparked.rest {
        out.resume(rest);
    }
}

/// Frames gathered for one write.
#[derive(Default)]
struct Chunk {
    /// The first frame, shared with the hub while it is the only one.
    one: Option<Bytes>,
    /// Several frames, copied.
    many: Vec<u8>,
    /// Messages in it (a gap notice is not one).
    messages: u64,
}

impl Chunk {
    fn add(&mut self, frame: &Bytes) {
        if self.one.is_none() && self.many.is_empty() {
            self.one = Some(frame.clone());
            return;
        }
        if let Some(one) = self.one.take() {
            self.many.extend_from_slice(&one);
        }
        self.many.extend_from_slice(frame);
    }

    fn len(&self) -> usize {
        self.one.as_ref().map_or(self.many.len(), Bytes::len)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn finish(self) -> Option<Bytes> {
        match self.one {
            Some(one) => Some(one),
            None => (!self.many.is_empty()).then(|| Bytes::from(self.many)),
        }
    }
}

/// Writes what `out` holds, as long as the peer keeps up. Polled once in
/// place first: a socket that takes the chunk at once (the usual case)
/// costs no boxed future and no registration with the hub or the shutdown.
async fn write_guarded(
    out: &mut Outbound<'_, Io>,
    shared: &Shared,
    stop: &Signal,
    delivered: &Delivered,
) -> Option<End> {
    if let Poll::Ready(r) = std::future::poll_fn(|cx| Poll::Ready(out.poll_write_out(cx))).await {
        return interrupted(Ok(r));
    }
    let max_lag = shared.limits.max_subscriber_lag;
    // Boxed, and freed once written: the loop's own future, held while the
    // socket idles, keeps no room for a blocked write.
    interrupted(
        Box::pin(lag_guard(
            out.write_out(),
            &shared.hub,
            delivered,
            max_lag,
            stop,
        ))
        .await,
    )
}

/// Maps the outcome of a guarded write to how the session ends, if it does.
fn interrupted(result: Result<std::io::Result<()>, Interrupted>) -> Option<End> {
    match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(End::PeerGone(e.to_string())),
        Err(Interrupted::Shutdown) => Some(End::Shutdown),
        Err(Interrupted::SlowConsumer { behind, since }) => {
            Some(End::SlowConsumer { behind, since })
        }
    }
}

/// Client → hub: every text or binary frame is published, sender included.
/// Also the session's one timer: it queues a Ping for the send half every
/// `ws_ping_interval` and ends the session when the peer stays silent too
/// long (one `Sleep` per WebSocket rather than one per half: about 130
/// bytes per idle connection). It stays here, not in the send half, so a
/// silent peer is noticed even while a write to it is blocked.
async fn receive_loop(
    stream: &mut Ws<'_>,
    socket: &Socket<Io>,
    outlet: &Outlet,
    shared: &Shared,
) -> End {
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
                    socket.queue_ping();
                    next_ping = now + limits.ws_ping_interval;
                }
                timer.as_mut().reset(next_ping.min(last_seen + silence()));
                continue;
            }
        };
        last_seen = Instant::now();
        if socket.has_control() {
            // A Pong tungstenite queued goes out before what this frame
            // publishes: no direct write until the send half ran.
            outlet.hold();
        }
        match next {
            None => return End::PeerGone("connection closed".into()),
            Some(Err(e)) => return End::from_read_error(e),
            Some(Ok(msg)) => match msg {
                Message::Text(text) => {
                    shared.publish(Kind::Text, Bytes::from(text));
                }
                Message::Binary(bytes) => {
                    shared.publish(Kind::Binary, bytes);
                }
                Message::Close(frame) => return End::PeerClosed(frame),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            },
        }
    }
}
