//! The broadcast hub: sequence numbers, the bounded history ring, and the
//! cursors subscribers read it through.
//!
//! # Why a cursor over a ring, and no queue per subscriber
//! Every published message is stored once, in a ring of the last
//! [`Limits::history`](crate::Limits::history) messages, already encoded the
//! ways the transports need it (the `pushpoll.v1` frame, whose tail is the raw
//! payload; the SSE event and the WebSocket frames, built on first use). A
//! [`Subscriber`] is only a sequence number (its cursor) and a wake-up
//! handle: it copies out `Arc` handles to the messages after its cursor
//! when it is ready to write them.
//! So a subscriber that stops reading holds no queue of its own, costs
//! nothing more as it falls behind, and slows nobody; the transports measure
//! how far behind it is ([`Subscriber::lag`]) and disconnect it past
//! [`Limits::max_subscriber_lag`](crate::Limits::max_subscriber_lag). A cursor
//! that falls off the ring is told so with a [`Gap`], never silently.
//!
//! # Cost of a fan-out
//! [`Hub::publish`] takes the write lock once, encodes once, then wakes every
//! waiting subscriber through one `tokio::sync::watch`. Each woken subscriber
//! takes the read lock once per [`Subscriber::recv`] and clones up to `max`
//! `Arc`s: no payload byte is copied per subscriber by the hub. (The server's
//! WebSocket sessions do not wait on the watch: a publisher writes to the
//! idle ones itself, see `transport/ws/direct.rs`.)
//!
//! ```
//! # tokio_test_block_on(async {
//! use bytes::Bytes;
//! use pushpoll_server::hub::{Hub, Recv};
//! use pushpoll_wire::Kind;
//!
//! let hub = Hub::new(100);
//! let mut sub = hub.subscribe(None); // from now on
//! let seq = hub.publish(Kind::Text, Bytes::from_static(b"hi"));
//! let mut batch = Vec::new();
//! assert!(matches!(sub.recv(&mut batch, 64).await, Recv::Messages));
//! assert_eq!(batch[0].seq(), seq);
//! assert_eq!(&batch[0].payload()[..], b"hi");
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use pushpoll_wire::{frame, sse, ws, Kind};
use tokio::sync::watch;

/// One published message, shared by every subscriber that receives it.
#[derive(Debug)]
pub struct Message {
    seq: u64,
    kind: Kind,
    /// The `pushpoll.v1` frame; bytes `HEADER_LEN..` are the payload.
    v1: Bytes,
    /// The SSE event, encoded by the first SSE subscriber that needs it.
    sse: OnceLock<Bytes>,
    /// The WebSocket frames (`pushpoll.v1`, plain), each encoded by the
    /// first WebSocket subscriber that needs it.
    ws: [OnceLock<Bytes>; 2],
}

impl Message {
    /// The hub's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Text or binary, as published (text that is not UTF-8 is stored as binary).
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The payload, byte for byte (a view of the shared buffer, not a copy).
    pub fn payload(&self) -> Bytes {
        self.v1.slice(frame::HEADER_LEN..)
    }

    /// The `pushpoll.v1` frame carrying this message.
    pub fn v1_frame(&self) -> &Bytes {
        &self.v1
    }

    /// The SSE event carrying this message (`id:`, `event:`, `data:` lines),
    /// encoded once and shared.
    pub fn sse_event(&self) -> &Bytes {
        self.sse.get_or_init(|| {
            let mut out = Vec::with_capacity(self.v1.len() + 32);
            sse::write_message(&mut out, self.seq, self.kind, &self.v1[frame::HEADER_LEN..]);
            Bytes::from(out)
        })
    }

    /// The WebSocket frame carrying this message, encoded once and shared:
    /// with `v1`, the `pushpoll.v1` frame in a binary frame; otherwise the
    /// payload as published (text or binary), as the Node `ws` chat relays it.
    pub fn ws_frame(&self, v1: bool) -> &Bytes {
        self.ws[usize::from(v1)].get_or_init(|| {
            if v1 {
                ws::server_frame(ws::Opcode::Binary, &self.v1)
            } else {
                let opcode = match self.kind {
                    Kind::Text => ws::Opcode::Text,
                    Kind::Binary => ws::Opcode::Binary,
                };
                ws::server_frame(opcode, &self.v1[frame::HEADER_LEN..])
            }
        })
    }
}

/// A cursor asked for messages the ring cannot give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The `since` that could not be honoured.
    pub requested_since: u64,
    /// Where delivery resumes: the oldest message still held, or
    /// `last_seq + 1` when `requested_since` was ahead of the hub.
    pub oldest_seq: u64,
    /// The newest sequence number when the gap was found.
    pub last_seq: u64,
}

impl Gap {
    /// True when the cursor was ahead of `last_seq` (typically the server
    /// restarted and numbering began again); false when it was too old.
    pub fn is_ahead(&self) -> bool {
        self.requested_since > self.last_seq
    }
}

/// What one [`Subscriber::recv`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recv {
    /// At least one message was appended to the batch.
    Messages,
    /// The cursor could not continue where it was; it now stands at
    /// `gap.oldest_seq - 1`, so the next call continues from there.
    Gap(Gap),
}

/// Where the hub stood when a poll was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Newest sequence number.
    pub last_seq: u64,
    /// Oldest sequence number still held (`last_seq + 1` when empty).
    pub oldest_seq: u64,
    /// The batch limit cut the answer short.
    pub more: bool,
}

struct Ring {
    messages: VecDeque<Arc<Message>>,
    capacity: usize,
    last_seq: u64,
}

impl Ring {
    fn oldest_seq(&self) -> u64 {
        self.last_seq + 1 - self.messages.len() as u64
    }

    /// The gap a cursor at `since` has, if any.
    fn gap(&self, since: u64) -> Option<Gap> {
        let (last_seq, oldest_seq) = (self.last_seq, self.oldest_seq());
        if since > last_seq {
            Some(Gap {
                requested_since: since,
                oldest_seq: last_seq + 1,
                last_seq,
            })
        } else if since + 1 < oldest_seq {
            Some(Gap {
                requested_since: since,
                oldest_seq,
                last_seq,
            })
        } else {
            None
        }
    }

    /// Appends up to `max` messages after `since` (which must have no gap);
    /// returns how many.
    fn copy_after(&self, since: u64, max: usize, out: &mut Vec<Arc<Message>>) -> usize {
        let start = (since + 1 - self.oldest_seq()) as usize;
        let n = max.min(self.messages.len() - start);
        out.extend(self.messages.range(start..start + n).cloned());
        n
    }
}

/// The broadcast hub. Cheap to share (`Arc<Hub>`); every method takes `&self`.
pub struct Hub {
    ring: RwLock<Ring>,
    /// Mirror of `ring.last_seq`, so "anything new?" needs no lock.
    last_seq: AtomicU64,
    /// Bumped after every publish; subscribers and long polls wait on it.
    changed: watch::Sender<()>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("last_seq", &self.last_seq())
            .field("len", &self.len())
            .finish()
    }
}

impl Hub {
    /// A hub keeping the last `history` messages (at least 1).
    pub fn new(history: usize) -> Arc<Hub> {
        let capacity = history.max(1);
        Arc::new(Hub {
            ring: RwLock::new(Ring {
                messages: VecDeque::with_capacity(capacity.min(1 << 16)),
                capacity,
                last_seq: 0,
            }),
            last_seq: AtomicU64::new(0),
            changed: watch::Sender::new(()),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring inconsistent
        // (every mutation is a push/pop pair), so poisoning is ignored.
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Ring> {
        self.ring.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a message, evicting the oldest when the ring is full, wakes
    /// every subscriber and returns the message's sequence number.
    ///
    /// `Kind::Text` payloads that are not UTF-8 are stored as `Kind::Binary`,
    /// as every transport would have to send them that way anyway.
    pub fn publish(&self, kind: Kind, payload: Bytes) -> u64 {
        self.publish_message(kind, payload).seq
    }

    /// [`publish`](Self::publish), returning the message as stored.
    pub(crate) fn publish_message(&self, kind: Kind, payload: Bytes) -> Arc<Message> {
        let message = {
            let mut ring = self.write();
            let seq = ring.last_seq + 1;
            let kind = match kind {
                Kind::Text if std::str::from_utf8(&payload).is_err() => Kind::Binary,
                kind => kind,
            };
            let v1 = frame::encode_message(seq, kind, &payload);
            if ring.messages.len() == ring.capacity {
                ring.messages.pop_front();
            }
            let message = Arc::new(Message {
                seq,
                kind,
                v1,
                sse: OnceLock::new(),
                ws: [OnceLock::new(), OnceLock::new()],
            });
            ring.messages.push_back(Arc::clone(&message));
            ring.last_seq = seq;
            self.last_seq.store(seq, Ordering::Release);
            message
        };
        self.changed.send_replace(());
        message
    }

    /// The newest sequence number (0 before the first message).
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// The oldest sequence number still held (`last_seq + 1` while empty).
    pub fn oldest_seq(&self) -> u64 {
        self.read().oldest_seq()
    }

    /// `last_seq` and `oldest_seq`, read together.
    pub fn snapshot(&self) -> Snapshot {
        let ring = self.read();
        Snapshot {
            last_seq: ring.last_seq,
            oldest_seq: ring.oldest_seq(),
            more: false,
        }
    }

    /// Messages held in history.
    pub fn len(&self) -> usize {
        self.read().messages.len()
    }

    /// True before the first publish.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cursor delivering every message with `seq > since`, or, with
    /// `None`, every message published from now on.
    ///
    /// A `since` the ring cannot honour (too old, or ahead of `last_seq`) is
    /// judged now and reported by the first [`Subscriber::recv`].
    pub fn subscribe(self: &Arc<Self>, since: Option<u64>) -> Subscriber {
        let ring = self.read();
        let last_seq = ring.last_seq;
        let (cursor, pending_gap) = match since {
            None => (last_seq, None),
            Some(since) => match ring.gap(since) {
                None => (since, None),
                Some(gap) => (gap.oldest_seq - 1, Some(Box::new(gap))),
            },
        };
        drop(ring);
        let mut changed = self.changed.subscribe();
        changed.mark_unchanged();
        Subscriber {
            hub: Arc::clone(self),
            cursor,
            pending_gap,
            start_last_seq: last_seq,
            changed,
        }
    }

    /// For polls: appends to `out` up to `max` messages with `seq > since`.
    /// A `since` the ring cannot honour is the error.
    pub fn read_after(
        &self,
        since: u64,
        max: usize,
        out: &mut Vec<Arc<Message>>,
    ) -> Result<Snapshot, Gap> {
        let ring = self.read();
        if let Some(gap) = ring.gap(since) {
            return Err(gap);
        }
        let n = ring.copy_after(since, max, out);
        Ok(Snapshot {
            last_seq: ring.last_seq,
            oldest_seq: ring.oldest_seq(),
            more: since + (n as u64) < ring.last_seq,
        })
    }

    /// Resolves once `last_seq >= seq`. Cancel-safe.
    pub async fn wait_for_seq(&self, seq: u64) {
        let mut changed = self.changed.subscribe();
        loop {
            changed.mark_unchanged();
            if self.last_seq() >= seq {
                return;
            }
            if changed.changed().await.is_err() {
                // The hub owns the sender, so this cannot happen while `self` lives.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// A subscriber's cursor over the history ring. See the [module docs](self).
pub struct Subscriber {
    hub: Arc<Hub>,
    /// Sequence number of the last message handed out.
    cursor: u64,
    /// Boxed: rare, and every idle push connection holds its subscriber.
    pending_gap: Option<Box<Gap>>,
    start_last_seq: u64,
    changed: watch::Receiver<()>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("cursor", &self.cursor)
            .field("pending_gap", &self.pending_gap)
            .finish()
    }
}

impl Subscriber {
    /// Sequence number of the last message handed out (where a resume would
    /// start from).
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The hub's `last_seq` when this subscriber was created (what the
    /// `pushpoll.v1` hello and the SSE opening comment announce).
    pub fn start_last_seq(&self) -> u64 {
        self.start_last_seq
    }

    /// Whether [`try_recv`](Self::try_recv) would give something now.
    pub fn has_news(&self) -> bool {
        self.pending_gap.is_some() || self.hub.last_seq() > self.cursor
    }

    /// Moves the cursor to `seq`, handed out by someone else (a publisher
    /// writing to a parked WebSocket); never backwards.
    pub(crate) fn advance_to(&mut self, seq: u64) {
        self.cursor = self.cursor.max(seq);
    }

    /// Messages published but not yet handed out.
    pub fn lag(&self) -> u64 {
        self.hub.last_seq().saturating_sub(self.cursor)
    }

    /// The hub this cursor reads.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Like [`recv`](Self::recv) but never waits: `None` when nothing is new.
    pub fn try_recv(&mut self, out: &mut Vec<Arc<Message>>, max: usize) -> Option<Recv> {
        if let Some(gap) = self.pending_gap.take() {
            return Some(Recv::Gap(*gap));
        }
        if self.hub.last_seq() <= self.cursor {
            return None;
        }
        let ring = self.hub.read();
        if let Some(gap) = ring.gap(self.cursor) {
            self.cursor = gap.oldest_seq - 1;
            return Some(Recv::Gap(gap));
        }
        let n = ring.copy_after(self.cursor, max.max(1), out);
        self.cursor += n as u64;
        Some(Recv::Messages)
    }

    /// Waits until there is something after the cursor, then appends up to
    /// `max` messages to `out` (or reports a gap) and advances the cursor.
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn recv(&mut self, out: &mut Vec<Arc<Message>>, max: usize) -> Recv {
        loop {
            // Mark before looking, so a publish between the look and the
            // wait still wakes us.
            self.changed.mark_unchanged();
            if let Some(r) = self.try_recv(out, max) {
                return r;
            }
            if self.changed.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn numbers_from_one_and_evicts_the_oldest() {
        let hub = Hub::new(3);
        assert_eq!((hub.last_seq(), hub.oldest_seq(), hub.len()), (0, 1, 0));
        for i in 1..=5 {
            assert_eq!(hub.publish(Kind::Text, text("x")), i);
        }
        assert_eq!((hub.last_seq(), hub.oldest_seq(), hub.len()), (5, 3, 3));
    }

    #[test]
    fn read_after_reports_gaps_and_batches() {
        let hub = Hub::new(3);
        for _ in 0..5 {
            hub.publish(Kind::Binary, text("b"));
        }
        let mut out = Vec::new();
        let gap = hub.read_after(1, 10, &mut out).unwrap_err();
        assert_eq!((gap.oldest_seq, gap.is_ahead()), (3, false));
        let gap = hub.read_after(9, 10, &mut out).unwrap_err();
        assert_eq!((gap.oldest_seq, gap.last_seq, gap.is_ahead()), (6, 5, true));
        let snap = hub.read_after(2, 2, &mut out).unwrap();
        assert!(snap.more);
        assert_eq!(out.iter().map(|m| m.seq()).collect::<Vec<_>>(), [3, 4]);
        out.clear();
        assert!(!hub.read_after(5, 2, &mut out).unwrap().more);
        assert!(out.is_empty());
    }

    #[test]
    fn invalid_text_becomes_binary() {
        let hub = Hub::new(3);
        hub.publish(Kind::Text, Bytes::from_static(&[0xff]));
        let mut out = Vec::new();
        hub.read_after(0, 1, &mut out).unwrap();
        assert_eq!(out[0].kind(), Kind::Binary);
        assert_eq!(out[0].v1_frame()[0], 0x02);
    }

    #[tokio::test]
    async fn subscribers_see_everything_in_order_and_gaps_explicitly() {
        let hub = Hub::new(4);
        let mut live = hub.subscribe(None);
        let mut old = hub.subscribe(Some(0));
        for _ in 0..6 {
            hub.publish(Kind::Text, text("m"));
        }
        let mut out = Vec::new();
        // `live` subscribed at 0 too, and 1 and 2 have been evicted since.
        let Recv::Gap(gap) = live.recv(&mut out, 100).await else {
            panic!("expected a gap");
        };
        assert_eq!((gap.requested_since, gap.oldest_seq), (0, 3));
        assert_eq!(live.recv(&mut out, 100).await, Recv::Messages);
        assert_eq!(
            out.iter().map(|m| m.seq()).collect::<Vec<_>>(),
            [3, 4, 5, 6]
        );
        assert!(matches!(old.recv(&mut out, 1).await, Recv::Gap(_)));
        assert_eq!(old.cursor(), 2);
        assert_eq!(old.lag(), 4);

        let mut ahead = hub.subscribe(Some(100));
        let Recv::Gap(gap) = ahead.recv(&mut out, 1).await else {
            panic!("expected a gap");
        };
        assert!(gap.is_ahead());
        assert_eq!((gap.oldest_seq, ahead.cursor()), (7, 6));
        assert_eq!(ahead.try_recv(&mut out, 1), None);
    }

    #[tokio::test]
    async fn recv_waits_for_a_publish() {
        let hub = Hub::new(4);
        let mut sub = hub.subscribe(None);
        let h2 = Arc::clone(&hub);
        let waiter = tokio::spawn(async move {
            let mut out = Vec::new();
            sub.recv(&mut out, 8).await;
            out[0].seq()
        });
        tokio::task::yield_now().await;
        let seq = h2.publish(Kind::Text, text("late"));
        assert_eq!(waiter.await.unwrap(), seq);
        h2.wait_for_seq(1).await;
    }
}
