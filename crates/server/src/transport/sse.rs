//! `GET /events`: Server-Sent Events.
//!
//! The handler subscribes and answers `200` at once; a producer reads the
//! hub through the subscriber's cursor and sends ready-made chunks to a
//! [`Sink`]. Under hyper (HTTP/2, or HTTP/1 after the held-request front
//! handed the connection over) the producer is a task of its own and the
//! sink a channel of [`CHANNEL_CHUNKS`] chunks that hyper's body drains; in
//! the front (`conn/held.rs`) it runs in the connection's task and the sink
//! is the socket: no task, channel or hyper buffers per idle stream. Either
//! way, when the socket stops taking bytes the sink's send blocks, and that
//! blocked send is where a slow consumer is noticed.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use pushpoll_wire::query::{parse_last_event_id, PollQuery, QueryError};
use pushpoll_wire::sse;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

use crate::connection::ConnState;
use crate::hub::{Recv, Subscriber};
use crate::metrics::Transport;
use crate::response::{self, Body};
use crate::transport::{lag_guard, Delivered, Interrupted};
use crate::Shared;

/// Chunks queued between the producer and the socket.
const CHANNEL_CHUNKS: usize = 2;
/// Messages taken from the hub per read.
const BATCH: usize = 64;
/// A chunk stops growing once this big (one socket write's worth).
const CHUNK_BYTES: usize = 32 * 1024;
/// The reconnection delay suggested to `EventSource`, in milliseconds.
const RETRY_MS: u32 = 1000;

/// A stream accepted and subscribed, not yet running: hyper's path spawns
/// it behind a channel ([`Opened::spawn`]); the held-request front runs it
/// in the connection's own task, writing to the socket ([`Opened::run`]).
pub(crate) struct Opened {
    sub: Subscriber,
    opening: Bytes,
}

/// Where a stream's chunks go.
pub(crate) trait Sink {
    /// Hands over one chunk; `Err` when the client is gone. Once it returns
    /// `Ok`, the chunk is the client's (it will be written before anything
    /// sent after it, a last gap notice included): the stream counts it as
    /// delivered. A send dropped before it returns has handed over nothing.
    fn send(&mut self, chunk: Bytes) -> impl Future<Output = Result<(), ()>> + Send;
    /// Resolves when the client is gone; polled only between sends.
    fn gone(&mut self) -> impl Future<Output = ()> + Send;
}

/// Opens a stream. `Last-Event-ID` (what `EventSource` sends when it
/// reconnects) wins over `?since=`; a bad one or a bad query is the answer.
pub(crate) fn open<B>(
    req: &Request<B>,
    query: Result<PollQuery, QueryError>,
    shared: &Arc<Shared>,
) -> Result<Opened, Box<Response<Body>>> {
    let query = match query {
        Ok(q) => q,
        Err(e) => {
            return Err(Box::new(response::error(
                StatusCode::BAD_REQUEST,
                e.to_string(),
            )))
        }
    };
    let since = match req.headers().get("last-event-id") {
        Some(v) => match v
            .to_str()
            .map_err(|_| ())
            .and_then(|s| parse_last_event_id(s).map_err(|_| ()))
        {
            Ok(id) => Some(id),
            Err(()) => {
                let shown = String::from_utf8_lossy(v.as_bytes()).into_owned();
                return Err(Box::new(response::error(
                    StatusCode::BAD_REQUEST,
                    QueryError::BadLastEventId(shown).to_string(),
                )));
            }
        },
        None => query.since,
    };
    let sub = shared.hub.subscribe(since);
    // The opening sets the client's resume point (an `id:` with no data
    // moves `EventSource`'s last event ID without an event): a stream cut
    // before its first message resumes from here instead of from "now",
    // which would lose what was published during the reconnect. On a resume
    // it repeats the client's own id, so a gap notice not yet sent is not
    // skipped by a second cut.
    let resume = since.unwrap_or_else(|| sub.start_last_seq());
    let opening = format!(
        ": pushpoll last_seq={}\nid: {resume}\nretry: {RETRY_MS}\n\n",
        sub.start_last_seq()
    );
    Ok(Opened {
        sub,
        opening: Bytes::from(opening),
    })
}

impl Opened {
    /// The answer's status and headers (the body is the stream).
    pub(crate) fn head<B>(body: B) -> Response<B> {
        let mut resp = Response::new(body);
        *resp.status_mut() = StatusCode::OK;
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    /// The whole answer for hyper: the stream runs on a task of its own and
    /// reaches hyper through a channel of [`CHANNEL_CHUNKS`] chunks.
    pub(crate) fn spawn(self, shared: &Arc<Shared>, conn: &Arc<ConnState>) -> Response<Body> {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let (s, c) = (Arc::clone(shared), Arc::clone(conn));
        shared.spawn(move || async move { self.run(&mut Channel(tx), s, c).await });
        Opened::head(Body::Stream(rx))
    }

    /// Runs the stream until the client goes, the server shuts down, or the
    /// client is too slow (then a last gap event, and the end).
    pub(crate) async fn run<K: Sink>(
        self,
        sink: &mut K,
        shared: Arc<Shared>,
        conn: Arc<ConnState>,
    ) {
        if sink.send(self.opening).await.is_ok() {
            produce(self.sub, sink, shared, conn).await;
        }
    }
}

/// hyper's side: chunks go through a channel that hyper's body drains.
struct Channel(mpsc::Sender<Bytes>);

impl Sink for Channel {
    async fn send(&mut self, chunk: Bytes) -> Result<(), ()> {
        self.0.send(chunk).await.map_err(drop)
    }

    async fn gone(&mut self) {
        self.0.closed().await;
    }
}

/// Feeds one stream until the client goes, the server shuts down, or the
/// client is too slow. When the socket stops taking bytes, the sink's send
/// blocks, and that blocked send is where a slow consumer is noticed.
async fn produce<K: Sink>(
    mut sub: Subscriber,
    sink: &mut K,
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
) {
    let _open = shared.metrics.open(Transport::Sse);
    let limits = &shared.limits;
    let delivered = Delivered::new(sub.cursor());
    // Grows with the first messages: an idle stream holds no batch.
    let mut batch = Vec::new();
    let stop = shared.shutdown.raised();
    // The keep-alive timer is not reset on every write (that would touch the
    // timer wheel per message): when it fires early, it is pushed back to
    // `sse_keepalive` after the last write.
    let keepalive = tokio::time::sleep(limits.sse_keepalive);
    tokio::pin!(stop, keepalive);
    let mut last_write = Instant::now();
    loop {
        let first = tokio::select! {
            biased;
            () = &mut stop => return,
            () = sink.gone() => return,
            r = sub.recv(&mut batch, BATCH) => Some(r),
            () = &mut keepalive => {
                let due = last_write + limits.sse_keepalive;
                if due > Instant::now() {
                    keepalive.as_mut().reset(due);
                    continue;
                }
                keepalive.as_mut().reset(Instant::now() + limits.sse_keepalive);
                None
            }
        };
        let mut chunk = Vec::new();
        let mut sent = 0u64;
        match first {
            None => sse::write_comment(&mut chunk, "keepalive"),
            Some(mut next) => loop {
                match next {
                    Recv::Messages => {
                        sent += batch.len() as u64;
                        for m in batch.drain(..) {
                            chunk.extend_from_slice(m.sse_event());
                        }
                    }
                    Recv::Gap(gap) => {
                        shared.metrics.gap_notices.add(Transport::Sse, 1);
                        sse::write_gap(
                            &mut chunk,
                            gap.requested_since,
                            gap.oldest_seq,
                            gap.last_seq,
                        );
                    }
                }
                if chunk.len() >= CHUNK_BYTES {
                    break;
                }
                match sub.try_recv(&mut batch, BATCH) {
                    Some(r) => next = r,
                    None => break,
                }
            },
        }
        let upto = sub.cursor();
        let send = sink.send(Bytes::from(chunk));
        match lag_guard(
            send,
            &shared.hub,
            &delivered,
            limits.max_subscriber_lag,
            &shared.shutdown,
        )
        .await
        {
            Ok(Ok(())) => {
                shared.metrics.deliveries.add(Transport::Sse, sent);
                delivered.set(upto);
                last_write = Instant::now();
            }
            Ok(Err(_)) | Err(Interrupted::Shutdown) => return,
            Err(Interrupted::SlowConsumer { behind, since }) => {
                shared.metrics.slow_consumers.add(Transport::Sse, 1);
                shared.metrics.gap_notices.add(Transport::Sse, 1);
                debug!(peer = %conn.peer, behind, since, "sse slow consumer: ending the stream");
                let mut last = Vec::new();
                let snap = shared.hub.snapshot();
                sse::write_gap(&mut last, since, snap.oldest_seq, snap.last_seq);
                let sent =
                    tokio::time::timeout(limits.close_timeout, sink.send(Bytes::from(last))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    conn.kill();
                }
                return;
            }
        }
    }
}
