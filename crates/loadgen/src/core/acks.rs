//! What each publisher has resolved so far (accepted or failed), shared
//! live with the subscribers: a delivery's latency is recorded only once
//! its publish is known to count (see [`crate::core::tally`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::core::ranges::RangeSet;

/// How far each publisher has got, shared live with the subscribers so that
/// they record latency only for accepted messages.
///
/// A publisher resolves each of its messages once: accepted or failed. Every
/// sequence number below `below` is resolved; the failed ones are kept in a
/// set (failures are rare, so a subscriber takes its lock only after one
/// happened). In a split run the parent sends snapshots to the workers.
#[derive(Debug, Default)]
pub(crate) struct Acks {
    publishers: Vec<PubAcks>,
}

#[derive(Debug, Default)]
struct PubAcks {
    below: AtomicU64,
    any_failed: AtomicBool,
    /// Resolved sequence numbers, and the failed ones among them.
    state: Mutex<(RangeSet, RangeSet)>,
}

/// One publisher's progress as a split run's parent sends it to workers:
/// everything below `below` is resolved, `failed` were not accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct AckSnapshot {
    pub below: u64,
    pub failed: RangeSet,
}

/// Whether a publish counts, as far as is known now.
pub(crate) trait Resolve {
    /// `Some(true)`: accepted; `Some(false)`: failed; `None`: not yet known.
    /// `slot` is the publisher's index in the subscriber's tally.
    fn status(&self, slot: usize, seq: u64) -> Option<bool>;
}

/// Nothing known until the end (every delivery waits for [`Tally::finish`]).
#[cfg(test)]
pub(crate) struct Unresolved;

#[cfg(test)]
impl Resolve for Unresolved {
    fn status(&self, _: usize, _: u64) -> Option<bool> {
        None
    }
}

impl Acks {
    pub fn new(publishers: usize) -> Self {
        Acks {
            publishers: (0..publishers).map(|_| PubAcks::default()).collect(),
        }
    }

    /// Publisher `p` resolved message `seq`.
    pub fn resolve(&self, p: usize, seq: u64, accepted: bool) {
        let Some(a) = self.publishers.get(p) else {
            return;
        };
        let mut state = a.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0.insert(seq);
        if !accepted {
            state.1.insert(seq);
            a.any_failed.store(true, Ordering::Release);
        }
        // Release: a subscriber that sees the new `below` sees the failure too.
        a.below.store(state.0.prefix_end(), Ordering::Release);
    }

    /// What the publishers resolved so far, for worker processes.
    pub fn snapshot(&self) -> Vec<AckSnapshot> {
        self.publishers
            .iter()
            .map(|a| {
                let state = a.state.lock().unwrap_or_else(|e| e.into_inner());
                AckSnapshot {
                    below: state.0.prefix_end(),
                    failed: state.1.clone(),
                }
            })
            .collect()
    }

    /// Takes the parent's snapshot (in a worker process).
    pub fn apply(&self, snapshot: &[AckSnapshot]) {
        for (a, s) in self.publishers.iter().zip(snapshot) {
            let mut state = a.state.lock().unwrap_or_else(|e| e.into_inner());
            state.1 = s.failed.clone();
            if s.failed.len() > 0 {
                a.any_failed.store(true, Ordering::Release);
            }
            a.below.store(s.below, Ordering::Release);
        }
    }
}

impl Resolve for Acks {
    fn status(&self, slot: usize, seq: u64) -> Option<bool> {
        let a = self.publishers.get(slot)?;
        if seq >= a.below.load(Ordering::Acquire) {
            return None;
        }
        if !a.any_failed.load(Ordering::Acquire) {
            return Some(true);
        }
        let state = a.state.lock().unwrap_or_else(|e| e.into_inner());
        Some(!state.1.contains(seq))
    }
}
