//! Unbatched fan-out without waking a task: the publisher writes a new
//! message's frame itself to every WebSocket whose session is parked.
//!
//! # Why
//! At one message a second nothing batches: every delivery is one frame in
//! one write. Waking each subscriber's task for it (a watch's waiter list,
//! the scheduler's queue, a poll of the session, its state's cache lines)
//! made pushpoll spend 1.5 to 1.8 times the CPU per delivery of a server
//! that just loops over its sockets (`floor_broadcast`, issue #18:
//! `results/2026-12-06-2cpu-xeon/fanout-cost/`). A session with nothing to
//! write parks on its [`Outlet`] instead, and the publisher, walking the
//! outlets, writes to the parked ones itself with one non-blocking
//! `send(2)` each: what the floor does, plus a lock per socket.
//!
//! # The protocol (every step under the outlet's lock)
//! - A session parks only when it has written everything it took and the
//!   hub holds nothing after its cursor (read under the lock: a publish
//!   stores its message before it takes the lock, so it either finds the
//!   session parked or is found by it).
//! - A publisher finds a parked outlet whose cursor is right before its
//!   message: it writes the frame and moves the cursor. Anything else (a
//!   partial write, a full socket, an error, a cursor further back, a newer
//!   message already stored, a TLS socket) unparks the session and wakes
//!   it: the session then writes as it always does (batches, the
//!   slow-consumer rule, errors), after what is left of a partial frame.
//! - A session unparks, whatever woke it (a publisher, a Ping due, a Pong
//!   to send, shutdown), before it writes a byte, and takes the cursor and
//!   the rest of a partial frame over.
//! - It closes its outlet, under the lock, before its socket is closed, so
//!   a publisher never writes to a descriptor number that was reused.
//!
//! Publishes closer together than [`QUIET`] only wake: sessions woken for
//! one message then find several and write them at once (one write for
//! many messages, which a write per message per subscriber from one thread
//! could not match), and a publisher is never held up by a fan-out it
//! started while the previous one still runs.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::hub::{Hub, Message, Subscriber};
use crate::metrics::{Metrics, Transport};
use crate::signal::Signal;

/// Publishes at least this far apart are written directly; closer ones
/// only wake (see the [module docs](self)). At 100 messages a second and
/// more, sessions have something to batch.
pub(crate) const QUIET: Duration = Duration::from_millis(10);

/// Outlets are kept in this many lists, so a connection that opens or
/// closes waits for at most one list's walk, not the whole fan-out.
const SHARDS: usize = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves the state whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every WebSocket session's outlet; see the [module docs](self).
pub(crate) struct Outlets {
    shards: [Mutex<Vec<Arc<Outlet>>>; SHARDS],
    next_shard: AtomicUsize,
    /// When the previous publish was fanned out (nanoseconds after `epoch`).
    last_publish: AtomicU64,
    epoch: Instant,
    /// A direct fan-out is running.
    busy: AtomicBool,
}

impl Default for Outlets {
    fn default() -> Self {
        Outlets {
            shards: std::array::from_fn(|_| Mutex::new(Vec::new())),
            next_shard: AtomicUsize::new(0),
            last_publish: AtomicU64::new(0),
            epoch: Instant::now(),
            busy: AtomicBool::new(false),
        }
    }
}

impl std::fmt::Debug for Outlets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outlets").finish_non_exhaustive()
    }
}

/// A session's parking spot.
pub(crate) struct Outlet {
    state: Mutex<State>,
    /// The plain TCP socket, written directly; `None` under TLS.
    fd: Option<RawFd>,
    /// `pushpoll.v1` or plain frames.
    v1: bool,
    shard: u32,
}

struct State {
    parked: bool,
    /// False once the session closed it: never written again.
    open: bool,
    /// The last sequence number written to the socket.
    cursor: u64,
    /// The session's, kept between parks.
    waker: Option<Waker>,
    /// What a partial direct write left of its frame, for the session
    /// (boxed: rare, and every idle WebSocket holds its outlet).
    rest: Option<Box<Bytes>>,
}

impl State {
    /// Unparks the outlet and wakes its session.
    fn wake(&mut self) {
        self.parked = false;
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }

    /// Unparks the outlet for its session, handing over the cursor and the
    /// rest of a partial write.
    fn hand_over(&mut self) -> Unparked {
        self.parked = false;
        Unparked {
            cursor: self.cursor,
            rest: self.rest.take().map(|rest| *rest),
        }
    }
}

/// What a session takes over when it unparks.
pub(crate) struct Unparked {
    /// The last sequence number written (directly or by the session).
    pub(crate) cursor: u64,
    /// The rest of a frame a direct write began: the first bytes to write.
    pub(crate) rest: Option<Bytes>,
}

impl Outlets {
    /// Registers a session writing `v1` or plain frames to `fd` (`None`:
    /// wake it only), its cursor at `cursor`.
    pub(crate) fn open(&self, fd: Option<RawFd>, v1: bool, cursor: u64) -> OutletGuard<'_> {
        let shard = self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let shard = shard as u32;
        let outlet = Arc::new(Outlet {
            state: Mutex::new(State {
                parked: false,
                open: true,
                cursor,
                waker: None,
                rest: None,
            }),
            fd,
            v1,
            shard,
        });
        lock(&self.shards[shard as usize]).push(Arc::clone(&outlet));
        OutletGuard {
            outlets: self,
            outlet,
        }
    }

    /// Wakes every parked session: the server is shutting down (`shutdown`
    /// is raised, which [`Park`] looks at under the outlet's lock).
    pub(crate) fn shut_down(&self) {
        for shard in &self.shards {
            for outlet in lock(shard).iter() {
                let mut state = lock(&outlet.state);
                if state.parked {
                    state.wake();
                }
            }
        }
    }

    /// Delivers `m`, just stored in `hub`, to every parked session: written
    /// directly when the hub is quiet, woken otherwise.
    pub(crate) fn fan_out(&self, hub: &Hub, m: &Message, metrics: &Metrics) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let previous = self.last_publish.swap(now, Ordering::Relaxed);
        let quiet = previous == 0 || now.saturating_sub(previous) >= QUIET.as_nanos() as u64;
        let direct = quiet && !self.busy.swap(true, Ordering::Acquire);
        let (mut delivered, mut bytes) = (0u64, 0u64);
        for shard in &self.shards {
            for outlet in lock(shard).iter() {
                let mut state = lock(&outlet.state);
                if !state.parked {
                    continue;
                }
                if direct {
                    if let Some(n) = outlet.write(&mut state, m) {
                        delivered += 1;
                        bytes += n as u64;
                        if state.rest.is_none() && hub.last_seq() == m.seq() {
                            continue;
                        }
                    }
                }
                state.wake();
            }
        }
        if direct {
            self.busy.store(false, Ordering::Release);
        }
        metrics.deliveries.add(Transport::Ws, delivered);
        metrics
            .ws_direct_deliveries
            .fetch_add(delivered, Ordering::Relaxed);
        metrics.bytes_sent.add(Transport::Ws, bytes);
    }
}

impl Outlet {
    /// Writes `m` to a parked outlet whose cursor is right before it, and
    /// moves the cursor: the bytes written, or `None` when nothing was.
    fn write(&self, state: &mut State, m: &Message) -> Option<usize> {
        let fd = self.fd?;
        if !state.open || state.cursor + 1 != m.seq() {
            return None;
        }
        let frame = m.ws_frame(self.v1);
        let n = send_now(fd, frame).ok().filter(|&n| n > 0)?;
        state.cursor = m.seq();
        if n < frame.len() {
            state.rest = Some(Box::new(frame.slice(n..)));
        }
        Some(n)
    }

    /// Resolves when the session has something to write, or the server
    /// shuts down: at once if the hub holds something after `sub`'s cursor
    /// (or `shutdown` is raised); otherwise parks until a publisher or
    /// [`Outlets::shut_down`] unparks it. (Shutdown comes this way rather
    /// than through a second future beside this one: that would be about
    /// 90 bytes more in every idle session.) Cancel-safe, but whoever drops it must
    /// [`unpark`](Self::unpark) before writing.
    pub(crate) fn park<'a>(&'a self, sub: &'a Subscriber, shutdown: &'a Signal) -> Park<'a> {
        Park {
            outlet: self,
            sub,
            shutdown,
            parked: false,
        }
    }

    /// Stops direct writes until the session has run (which it does next,
    /// in the same poll of its task): called by the receive half when it
    /// queued a control frame, which must go out before what it publishes.
    pub(crate) fn hold(&self) {
        lock(&self.state).parked = false;
    }

    /// Takes the outlet back from publishers, whatever woke the session.
    pub(crate) fn unpark(&self) -> Unparked {
        lock(&self.state).hand_over()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Outlet::park`].
    pub(crate) struct Park<'a> {
        outlet: &'a Outlet,
        sub: &'a Subscriber,
        shutdown: &'a Signal,
        parked: bool,
    }
}

impl std::future::Future for Park<'_> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let mut state = lock(&this.outlet.state);
        if this.shutdown.is_raised() {
            state.parked = false;
            return Poll::Ready(());
        }
        if *this.parked {
            if !state.parked {
                // A publisher unparked it.
                return Poll::Ready(());
            }
        } else {
            // The cursor the session holds is where direct writes go on.
            state.cursor = this.sub.cursor();
            if this.sub.has_news() {
                return Poll::Ready(());
            }
            state.parked = true;
            *this.parked = true;
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A registered outlet; closes and unregisters it when dropped (before the
/// socket it writes to: declare it after the socket).
pub(crate) struct OutletGuard<'a> {
    outlets: &'a Outlets,
    outlet: Arc<Outlet>,
}

impl std::ops::Deref for OutletGuard<'_> {
    type Target = Outlet;

    fn deref(&self) -> &Outlet {
        &self.outlet
    }
}

impl OutletGuard<'_> {
    /// No direct write from now on; what the session takes over.
    pub(crate) fn close(&self) -> Unparked {
        let mut state = lock(&self.outlet.state);
        state.open = false;
        state.hand_over()
    }
}

impl Drop for OutletGuard<'_> {
    fn drop(&mut self) {
        self.close();
        let mut shard = lock(&self.outlets.shards[self.outlet.shard as usize]);
        if let Some(at) = shard.iter().position(|o| Arc::ptr_eq(o, &self.outlet)) {
            shard.swap_remove(at);
        }
    }
}

/// One non-blocking `send(2)`.
fn send_now(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `fd` is an open socket: its session closes the outlet (under
    // the lock the caller holds) before the socket is dropped. `buf` is
    // valid for `buf.len()` bytes. MSG_NOSIGNAL: a closed peer is an error,
    // not SIGPIPE.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
