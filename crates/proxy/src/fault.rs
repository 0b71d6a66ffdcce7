//! The fault mode (`--kill-every`): at random times, one random open
//! connection is cut, by a reset or a plain close.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::Kill;
use crate::opts::KillMode;
use crate::stats::Counters;

/// How a connection is ended: by a fault, or passing on how its other side
/// ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    Rst,
    Close,
}

/// Open connections the fault mode may cut, by id: each waits on the
/// other end of its sender.
#[derive(Debug, Default)]
pub(crate) struct Victims(Mutex<HashMap<u64, oneshot::Sender<Cut>>>);

impl Victims {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, oneshot::Sender<Cut>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes connection `id` a candidate; it is cut when the receiver fires.
    pub(crate) fn add(&self, id: u64) -> oneshot::Receiver<Cut> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        rx
    }

    /// Connection `id` is gone.
    pub(crate) fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Sends `cut` to one connection picked at random; true if one took it.
    fn cut_random(&self, cut: Cut) -> bool {
        let mut victims = self.lock();
        let ids: Vec<u64> = victims.keys().copied().collect();
        if ids.is_empty() {
            return false;
        }
        let id = ids[rand::random_range(0..ids.len())];
        victims.remove(&id).is_some_and(|tx| tx.send(cut).is_ok())
    }
}

/// The next fault tick: uniformly between 0.5 and 1.5 × `every` from now.
pub(crate) fn next_tick(every: Duration) -> Instant {
    Instant::now() + every.mul_f64(0.5 + rand::random::<f64>())
}

/// One fault tick: maybe cut one random open connection. True if a cut
/// was sent.
pub(crate) fn fault_tick(victims: &Victims, k: Kill) -> bool {
    if rand::random::<f64>() >= k.probability {
        return false;
    }
    let cut = match k.mode {
        KillMode::Rst => Cut::Rst,
        KillMode::Close => Cut::Close,
        KillMode::Mixed if rand::random::<bool>() => Cut::Rst,
        KillMode::Mixed => Cut::Close,
    };
    victims.cut_random(cut)
}

/// Resets `s` on drop instead of closing it.
pub(crate) fn arm_reset(s: &TcpStream) {
    // A zero linger makes the close send RST at once; it never blocks.
    #[allow(deprecated)]
    let _ = s.set_linger(Some(Duration::ZERO));
}

/// Counts a cut the fault mode made.
pub(crate) fn count_cut(counters: &Counters, c: Cut) {
    let counter = match c {
        Cut::Rst => &counters.killed_rst,
        Cut::Close => &counters.killed_close,
    };
    counter.fetch_add(1, Relaxed);
}
