//! One connection as the rest of the server sees it: what a socket's task
//! shares with the router, the transports and their handlers (the
//! WebSocket upgrade slot, kill and stop signals), and which transport each
//! of its bytes is charged to. The two are one file because each holds the
//! other: the state carries the attribution, and the socket's byte counter
//! (a `pushpoll_netio::Counter`) settles into the state's transport when the
//! socket is dropped. The router and the transports import this and nothing
//! from [`crate::conn`], which serves sockets and sits above them.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use hyper::upgrade::OnUpgrade;
use pushpoll_netio::Counter;
use tokio::sync::Notify;

use crate::hub::Subscriber;
use crate::metrics::{Metrics, PerTransport, Transport};
use crate::Shared;

/// What one socket's task shares with the router and its handlers.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub(crate) peer: SocketAddr,
    pub(crate) attribution: Attribution,
    /// Set by the WebSocket handshake; the connection task runs the session
    /// once hyper has written the `101`.
    /// (Boxed: every connection's state holds the slot, few fill it.)
    upgrade: Mutex<Option<Box<PendingUpgrade>>>,
    /// Ends the connection at once (a peer that will not take its last words).
    kill: Notify,
    /// The socket's descriptor when it is plain TCP (not TLS): a WebSocket
    /// session on it may be written to by publishers directly
    /// (`transport::ws::direct`).
    pub(crate) plain_fd: Option<RawFd>,
}

impl ConnState {
    pub(super) fn new(peer: SocketAddr, plain_fd: Option<RawFd>) -> Self {
        ConnState {
            plain_fd,
            peer,
            attribution: Attribution::new(),
            upgrade: Mutex::new(None),
            kill: Notify::new(),
        }
    }

    pub(crate) fn set_upgrade(&self, pending: PendingUpgrade) {
        *self.upgrade.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(pending));
    }

    pub(super) fn take_upgrade(&self) -> Option<PendingUpgrade> {
        self.upgrade
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|p| *p)
    }

    /// Drops the socket without further ado.
    pub(crate) fn kill(&self) {
        self.kill.notify_one();
    }

    /// Resolves when [`kill`](Self::kill) is called.
    pub(super) async fn killed(&self) {
        self.kill.notified().await;
    }
}

/// An accepted WebSocket handshake, waiting for hyper to hand over the
/// socket: what the connection task needs to run the session after the
/// `101`.
pub(crate) struct PendingUpgrade {
    pub(crate) on_upgrade: OnUpgrade,
    pub(crate) sub: Subscriber,
    /// The client asked for `pushpoll.v1`.
    pub(crate) v1: bool,
}

impl std::fmt::Debug for PendingUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingUpgrade")
            .field("sub", &self.sub)
            .field("v1", &self.v1)
            .finish()
    }
}

/// Marks "not attributed to a transport yet" in [`Attribution`].
const PENDING: u8 = u8::MAX;

/// Which transport the bytes of a connection belong to, request by request.
///
/// HTTP/1 without pipelining makes this exact: a request's head is read
/// before the router sees it (those bytes wait in `pending_read` until
/// [`begin`](Self::begin) names the transport), its body is read while the
/// handler runs, and its response is written before the next request is
/// read. [`finish`](Self::finish) sends later reads back to pending, for the
/// next request. A WebSocket upgrade makes the attribution sticky: every byte
/// of the socket, handshake included, counts as `ws`. (Pipelined requests,
/// which browsers do not send, may have their head counted with the request
/// before them.)
#[derive(Debug)]
pub(crate) struct Attribution {
    read_to: AtomicU8,
    write_to: AtomicU8,
    sticky: AtomicBool,
    pending_read: AtomicU64,
    pending_written: AtomicU64,
}

impl Attribution {
    pub(super) fn new() -> Self {
        Attribution {
            read_to: AtomicU8::new(PENDING),
            write_to: AtomicU8::new(PENDING),
            sticky: AtomicBool::new(false),
            pending_read: AtomicU64::new(0),
            pending_written: AtomicU64::new(0),
        }
    }

    /// A request for `t` arrived: its head (already read) and everything
    /// until [`finish`](Self::finish) is `t`'s.
    pub(crate) fn begin(&self, t: Transport, metrics: &Metrics) {
        if self.sticky.load(Relaxed) {
            return;
        }
        self.read_to.store(t as u8, Relaxed);
        self.write_to.store(t as u8, Relaxed);
        metrics
            .bytes_received
            .add(t, self.pending_read.swap(0, Relaxed));
        metrics
            .bytes_sent
            .add(t, self.pending_written.swap(0, Relaxed));
    }

    /// The handler is done reading this request; what is read next belongs
    /// to the next request. Writes stay with this one (its body may still be
    /// streaming).
    pub(crate) fn finish(&self) {
        if !self.sticky.load(Relaxed) {
            self.read_to.store(PENDING, Relaxed);
        }
    }

    /// Everything from now on is the current transport's (a WebSocket).
    pub(crate) fn make_sticky(&self) {
        self.sticky.store(true, Relaxed);
    }

    fn count(&self, to: &AtomicU8, pending: &AtomicU64, counts: &PerTransport, n: u64) {
        match Transport::from_index(to.load(Relaxed)) {
            Some(t) => counts.add(t, n),
            None => {
                pending.fetch_add(n, Relaxed);
            }
        }
    }

    /// The socket is gone: bytes never claimed by a request go to the last
    /// transport it served, or `other`.
    fn settle(&self, metrics: &Metrics) {
        let t = Transport::from_index(self.write_to.load(Relaxed)).unwrap_or(Transport::Other);
        metrics
            .bytes_received
            .add(t, self.pending_read.swap(0, Relaxed));
        metrics
            .bytes_sent
            .add(t, self.pending_written.swap(0, Relaxed));
    }
}

/// The counter of an accepted socket (wrapped in a
/// [`Counted`](pushpoll_netio::Counted) stream): every byte read and written
/// goes into the server's metrics under the transport the connection's
/// [`Attribution`] names, and what is still unclaimed when the socket is
/// dropped is settled then.
pub(crate) struct SocketBytes {
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
}

impl SocketBytes {
    pub(super) fn new(shared: Arc<Shared>, conn: Arc<ConnState>) -> Self {
        SocketBytes { shared, conn }
    }
}

impl Counter for SocketBytes {
    fn add_read(&self, n: u64) {
        let a = &self.conn.attribution;
        a.count(
            &a.read_to,
            &a.pending_read,
            &self.shared.metrics.bytes_received,
            n,
        );
    }

    fn add_written(&self, n: u64) {
        let a = &self.conn.attribution;
        a.count(
            &a.write_to,
            &a.pending_written,
            &self.shared.metrics.bytes_sent,
            n,
        );
    }
}

impl Drop for SocketBytes {
    fn drop(&mut self) {
        self.conn.attribution.settle(&self.shared.metrics);
    }
}
