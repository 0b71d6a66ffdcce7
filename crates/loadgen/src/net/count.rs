//! Counting at the socket: every subscriber connection is a [`Counted`]
//! stream counting into the subscriber's [`SubIo`], so headers, handshakes,
//! frames, pings and retries are all counted the same way whatever the
//! transport. Publisher connections count into one [`PubIo`], so that the
//! sender's side of a message (a `POST` with its headers, or one WebSocket
//! frame) is measured the same way.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use pushpoll_netio::Counter;

/// One subscriber's socket-level counters.
///
/// Each subscriber owns its own, so the atomics are never contended; they are
/// atomics only so that the idle window can be snapshotted while tasks run.
#[derive(Debug, Default)]
pub(crate) struct SubIo {
    /// Bytes written by the subscriber's sockets.
    pub up: AtomicU64,
    /// Bytes read by the subscriber's sockets.
    pub down: AtomicU64,
    /// HTTP requests sent (WebSocket handshakes, polls, SSE connects).
    pub requests: AtomicU64,
    /// Poll answers without a message.
    pub empty_polls: AtomicU64,
    /// [`SubState`] as a `u8`.
    state: AtomicU8,
    /// Local address the subscriber's sockets bind to (`--source-ips`).
    pub source: Option<std::net::IpAddr>,
    /// What the bytes were for (WebSocket), and the socket for `TCP_INFO`.
    pub wire: crate::net::wire::WireIo,
}

/// Where a subscriber stands with respect to the ramp-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum SubState {
    /// Still connecting.
    Connecting = 0,
    /// Was ready when it mattered: expected to receive every message.
    Ready = 1,
    /// Missed the ramp-up: takes no part in the run.
    Excluded = 2,
}

/// Sums of [`SubIo`] over subscribers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IoTotals {
    pub up: u64,
    pub down: u64,
    pub requests: u64,
    pub empty_polls: u64,
    pub wire: crate::net::wire::WireTotals,
}

impl IoTotals {
    pub fn sum<'a>(ios: impl IntoIterator<Item = &'a Arc<SubIo>>) -> IoTotals {
        let mut t = IoTotals::default();
        for io in ios {
            t.up += io.up.load(Relaxed);
            t.down += io.down.load(Relaxed);
            t.requests += io.requests.load(Relaxed);
            t.empty_polls += io.empty_polls.load(Relaxed);
            t.wire = t.wire.plus(io.wire.snapshot());
        }
        t
    }

    /// [`sum`](Self::sum) without the wire breakdown: only the atomics, no
    /// `TCP_INFO` call per socket, for what reads the sums while the run
    /// goes on (`--metrics-addr` scrapes, workers' progress reports).
    pub fn sum_counters<'a>(ios: impl IntoIterator<Item = &'a Arc<SubIo>>) -> IoTotals {
        let mut t = IoTotals::default();
        for io in ios {
            t.up += io.up.load(Relaxed);
            t.down += io.down.load(Relaxed);
            t.requests += io.requests.load(Relaxed);
            t.empty_polls += io.empty_polls.load(Relaxed);
        }
        t
    }

    pub fn minus(self, o: IoTotals) -> IoTotals {
        IoTotals {
            up: self.up.saturating_sub(o.up),
            down: self.down.saturating_sub(o.down),
            requests: self.requests.saturating_sub(o.requests),
            empty_polls: self.empty_polls.saturating_sub(o.empty_polls),
            wire: self.wire.minus(o.wire),
        }
    }
}

impl SubIo {
    /// Counters of a subscriber whose sockets bind to `source` (`--source-ips`).
    pub fn with_source(source: Option<std::net::IpAddr>) -> Self {
        SubIo {
            source,
            ..SubIo::default()
        }
    }

    pub fn state(&self) -> SubState {
        match self.state.load(Relaxed) {
            0 => SubState::Connecting,
            1 => SubState::Ready,
            _ => SubState::Excluded,
        }
    }

    /// Moves `Connecting` to `to`; false if another state was there first.
    /// The subscriber (to `Ready`) and the ramp's end (to `Excluded`) race
    /// through here, so exactly one of them decides.
    pub fn settle(&self, to: SubState) -> bool {
        self.state
            .compare_exchange(SubState::Connecting as u8, to as u8, Relaxed, Relaxed)
            .is_ok()
    }

    pub fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }
}

/// Each subscriber socket is a [`Counted`] stream counting into its
/// subscriber's `SubIo`: `down` what it reads, `up` what it writes.
impl Counter for SubIo {
    fn add_read(&self, n: u64) {
        self.down.fetch_add(n, Relaxed);
    }

    fn add_written(&self, n: u64) {
        self.up.fetch_add(n, Relaxed);
    }
}

/// The publishers' socket counters, shared by all of them (a handful of
/// tasks, each writing once per message: no contention worth splitting).
#[derive(Debug, Default)]
pub(crate) struct PubIo {
    /// Bytes written by publisher sockets.
    pub up: AtomicU64,
    /// Bytes read by them (answers to `POST`s; on a WebSocket, whatever the
    /// server sends the publisher, e.g. a chat's broadcast of every message).
    pub down: AtomicU64,
    /// HTTP requests sent: one per `POST`, one per WebSocket handshake.
    pub requests: AtomicU64,
}

/// A snapshot of [`PubIo`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PubTotals {
    pub up: u64,
    pub down: u64,
    pub requests: u64,
}

impl PubIo {
    pub fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> PubTotals {
        PubTotals {
            up: self.up.load(Relaxed),
            down: self.down.load(Relaxed),
            requests: self.requests.load(Relaxed),
        }
    }
}

impl PubTotals {
    pub fn minus(self, o: PubTotals) -> PubTotals {
        PubTotals {
            up: self.up.saturating_sub(o.up),
            down: self.down.saturating_sub(o.down),
            requests: self.requests.saturating_sub(o.requests),
        }
    }
}

/// Each publisher socket is a [`Counted`] stream counting into the shared
/// `PubIo`.
impl Counter for PubIo {
    fn add_read(&self, n: u64) {
        self.down.fetch_add(n, Relaxed);
    }

    fn add_written(&self, n: u64) {
        self.up.fetch_add(n, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushpoll_netio::Counted;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_directions() {
        let (a, mut b) = tokio::io::duplex(64);
        let io = Arc::new(SubIo::default());
        let mut c = Counted::new(a, io.clone());
        c.write_all(b"hello").await.unwrap();
        b.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 3];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!((io.up.load(Relaxed), io.down.load(Relaxed)), (5, 3));
    }

    #[test]
    fn settle_is_decided_once() {
        let io = SubIo::default();
        assert!(io.settle(SubState::Excluded));
        assert!(!io.settle(SubState::Ready));
        assert_eq!(io.state(), SubState::Excluded);
    }
}
