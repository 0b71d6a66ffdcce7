//! Delivery accounting: which (message, subscriber) pairs arrived, how many
//! times and in what order, and their latencies.
//!
//! Each subscriber keeps a [`Tally`] of its own (plain fields, no sharing).
//! Seen sequence numbers are kept as sorted ranges, so memory grows with the
//! number of *gaps* (losses, reorders), not with the number of messages: a
//! million subscribers receiving in order cost one range per publisher each.
//! Whether a pair was expected is decided at the end, against the sets of
//! messages the publishers had acknowledged.
//!
//! Latency is recorded only for deliveries that count: a message whose
//! publish failed (a `503`, a timeout) may still arrive, and its latency must
//! not mix with the accepted messages'. While a publish is unresolved (its
//! `POST` answer has not come back yet) its deliveries wait in a small
//! pending list; [`Acks`](crate::core::acks::Acks) tells a subscriber, live, what each publisher has
//! resolved so far, and [`Tally::finish`] resolves the rest exactly.

use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;
use pushpoll_results::histogram::new_histogram;
use pushpoll_wire::marker::Marker;

use crate::core::acks::Resolve;
use crate::core::live_metrics::LatencyBuckets;
pub(crate) use crate::core::ranges::RangeSet;

/// Latencies a subscriber buffers before adding them to a shared shard.
const BATCH: usize = 64;

/// How many latency shards a run's subscribers share: a few per core, so
/// that batches from different tasks rarely wait for one another.
pub(crate) fn shard_count() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get() * 4)
        .clamp(4, 64)
}

/// The run's latency histograms: a few shards behind mutexes, filled by
/// subscribers in batches, merged at the end.
///
/// A full HdrHistogram per subscriber (3 significant figures, up to an hour)
/// is ~190 KB: a hundred thousand subscribers could not afford one each.
/// Batching keeps the lock off the per-delivery path (one lock per 64
/// deliveries, spread over the shards).
#[derive(Debug)]
pub(crate) struct LatencyShards {
    shards: Vec<Mutex<Histogram<u64>>>,
    /// The same latencies by bucket, read live by `--metrics-addr`.
    buckets: Arc<LatencyBuckets>,
}

impl LatencyShards {
    pub fn new(count: usize) -> Self {
        LatencyShards {
            shards: (0..count.max(1))
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
            buckets: Arc::default(),
        }
    }

    /// The same shards, also counting into `buckets` (the run's live ones).
    pub fn feeding(self, buckets: Arc<LatencyBuckets>) -> Self {
        LatencyShards { buckets, ..self }
    }

    fn record_all(&self, shard: usize, values: &[u64]) {
        let mut h = self.shards[shard % self.shards.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for &v in values {
            h.saturating_record(v);
        }
        drop(h);
        self.buckets.record(values);
    }

    /// All shards merged.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for s in &self.shards {
            let h = s.lock().unwrap_or_else(|p| p.into_inner());
            // Same bounds everywhere, so adding cannot fail.
            let _ = all.add(&*h);
        }
        all
    }
}

/// Per-publisher state of one subscriber.
#[derive(Debug, Clone, Default)]
struct Seen {
    set: RangeSet,
    max: Option<u64>,
}

/// One subscriber's view of the run.
#[derive(Debug)]
pub(crate) struct Tally {
    run_id: u32,
    /// The publisher `publishers[0]` stands for (echo: the subscriber's own;
    /// in rooms: the room's first).
    base: u32,
    /// Publisher `publishers[k]` is `base + k * stride`: 1, or the number
    /// of rooms (a subscriber expects only its room's publishers, and keeps
    /// state for those alone).
    stride: u32,
    /// An echo subscriber's tally: [`finish`](Self::finish) gets its own
    /// publisher's set alone.
    own: bool,
    publishers: Vec<Seen>,
    /// Arrivals of a pair already seen.
    pub duplicated: u64,
    /// First arrivals below the highest seq already seen from that publisher.
    pub reordered: u64,
    /// Markers naming a publisher that does not exist in this run, or one
    /// of another room.
    pub foreign: u64,
    /// Markers of other runs (other load agents on the same server): ignored
    /// for delivery and latency, counted to show they were seen.
    pub other_runs: u64,
    /// Data frames (messages, events) that carried no marker at all: a
    /// server's own traffic, or payloads it transformed beyond recognition.
    pub unmarked: u64,
    shard: usize,
    /// Latencies of accepted deliveries, not yet in the shards.
    batch: Vec<u64>,
    /// Deliveries whose publish is unresolved: (run-wide publisher index as
    /// `finish` knows it, seq, latency µs).
    pending: Vec<(u32, u64, u64)>,
    /// Pending length at which they are checked again (amortised).
    pending_check: usize,
}

/// What a [`Tally`] amounts to once the published sets are known.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TallySummary {
    pub delivered: u64,
    pub unexpected: u64,
    pub duplicated: u64,
    pub reordered: u64,
    #[serde(default)]
    pub other_runs: u64,
    #[serde(default)]
    pub unmarked: u64,
}

impl TallySummary {
    pub fn add(&mut self, o: TallySummary) {
        self.delivered += o.delivered;
        self.unexpected += o.unexpected;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.other_runs += o.other_runs;
        self.unmarked += o.unmarked;
    }
}

impl Tally {
    pub fn new(run_id: u32, publishers: usize, shard: usize) -> Self {
        Tally::in_room(run_id, publishers, 1, 0, shard)
    }

    /// The tally of a subscriber in `room` of `rooms`: it expects the
    /// messages of publishers `room`, `room + rooms`, ... alone.
    pub fn in_room(
        run_id: u32,
        publishers: usize,
        rooms: usize,
        room: usize,
        shard: usize,
    ) -> Self {
        let rooms = rooms.max(1);
        Tally {
            run_id,
            base: room as u32,
            stride: rooms as u32,
            own: false,
            publishers: vec![Seen::default(); publishers.saturating_sub(room).div_ceil(rooms)],
            duplicated: 0,
            reordered: 0,
            foreign: 0,
            other_runs: 0,
            unmarked: 0,
            shard,
            batch: Vec::new(),
            pending: Vec::new(),
            pending_check: 0,
        }
    }

    /// The tally of an echo subscriber, which expects only the messages of
    /// `publisher` (its own); [`finish`](Self::finish) then takes that
    /// publisher's acknowledged set alone.
    pub fn own(run_id: u32, publisher: u32, shard: usize) -> Self {
        Tally {
            base: publisher,
            own: true,
            ..Tally::new(run_id, 1, shard)
        }
    }

    /// The run-wide index of local slot `k`, as [`Resolve`] and the
    /// acknowledged sets of `finish` know publishers (an echo tally's
    /// own set is passed alone, at 0).
    fn published_index(&self, k: usize) -> usize {
        if self.own {
            0
        } else {
            self.base as usize + k * self.stride as usize
        }
    }

    /// Counts one arrival received at `now_us`. Returns true when it is the
    /// first arrival of this pair (a new delivery). Markers of other runs are
    /// ignored. Its latency is recorded once `acks` says the publish was
    /// accepted (at the latest in [`finish`](Self::finish)).
    pub fn record(
        &mut self,
        m: &Marker,
        now_us: u64,
        shards: &LatencyShards,
        acks: &dyn Resolve,
    ) -> bool {
        if m.run_id != self.run_id {
            self.other_runs += 1;
            return false;
        }
        let rel = m.publisher.wrapping_sub(self.base);
        if rel % self.stride != 0 {
            // Another room's message.
            self.foreign += 1;
            return false;
        }
        let slot = (rel / self.stride) as usize;
        let global = self.published_index(slot);
        let Some(seen) = self.publishers.get_mut(slot) else {
            self.foreign += 1;
            return false;
        };
        if !seen.set.insert(m.seq) {
            self.duplicated += 1;
            return false;
        }
        match seen.max {
            Some(max) if m.seq < max => self.reordered += 1,
            _ => seen.max = Some(m.seq),
        }
        let latency = now_us.saturating_sub(m.scheduled_us);
        match acks.status(global, m.seq) {
            Some(true) => self.push_latency(latency, shards),
            // Failed publish: counted as unexpected in `finish`, no latency.
            Some(false) => {}
            None => self.pending.push((global as u32, m.seq, latency)),
        }
        if !self.pending.is_empty() && self.pending.len() >= self.pending_check {
            self.resolve_pending(acks, shards);
        }
        true
    }

    fn push_latency(&mut self, latency: u64, shards: &LatencyShards) {
        if self.batch.capacity() == 0 {
            self.batch.reserve_exact(BATCH);
        }
        self.batch.push(latency);
        if self.batch.len() >= BATCH {
            self.flush(shards);
        }
    }

    /// Moves pending deliveries whose publish is now resolved out of the
    /// list; checks again when the list has doubled (at least 1 more), so
    /// the work stays linear in deliveries.
    pub fn resolve_pending(&mut self, acks: &dyn Resolve, shards: &LatencyShards) {
        let mut pending = std::mem::take(&mut self.pending);
        pending.retain(
            |&(slot, seq, latency)| match acks.status(slot as usize, seq) {
                Some(true) => {
                    self.push_latency(latency, shards);
                    false
                }
                Some(false) => false,
                None => true,
            },
        );
        self.pending = pending;
        self.pending_check = (self.pending.len() * 2).max(self.pending.len() + 1);
    }

    /// Hands buffered latencies to the shared histograms.
    pub fn flush(&mut self, shards: &LatencyShards) {
        if !self.batch.is_empty() {
            shards.record_all(self.shard, &self.batch);
            self.batch.clear();
        }
    }

    /// Final counts against the acknowledged set of each publisher; pending
    /// latencies of accepted messages are recorded now.
    pub fn finish(mut self, published: &[RangeSet], shards: &LatencyShards) -> TallySummary {
        let empty = RangeSet::default();
        for (slot, seq, latency) in std::mem::take(&mut self.pending) {
            if published.get(slot as usize).unwrap_or(&empty).contains(seq) {
                self.push_latency(latency, shards);
            }
        }
        self.flush(shards);
        let mut s = TallySummary {
            unexpected: self.foreign,
            duplicated: self.duplicated,
            reordered: self.reordered,
            other_runs: self.other_runs,
            unmarked: self.unmarked,
            ..TallySummary::default()
        };
        for (k, seen) in self.publishers.iter().enumerate() {
            let acked = published.get(self.published_index(k)).unwrap_or(&empty);
            let both = seen.set.intersection_len(acked);
            s.delivered += both;
            s.unexpected += seen.set.len() - both;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::acks::{Acks, Unresolved};

    fn m(publisher: u32, seq: u64) -> Marker {
        Marker {
            run_id: 7,
            publisher,
            seq,
            scheduled_us: 1_000,
        }
    }

    fn set(xs: &[u64]) -> RangeSet {
        let mut s = RangeSet::default();
        for &x in xs {
            s.insert(x);
        }
        s
    }

    #[test]
    fn duplicates_reorders_losses_and_unexpected() {
        let shards = LatencyShards::new(2);
        let mut t = Tally::new(7, 2, 0);
        // Publisher 0 sends 0..6: 2 is lost, 4 arrives after 5, 1 twice.
        for seq in [0, 1, 1, 3, 5, 4, 6] {
            t.record(&m(0, seq), 1_500, &shards, &Unresolved);
        }
        // Publisher 1: 0 and 1, plus 2, whose publish was never acknowledged.
        for seq in [0, 1, 2] {
            t.record(&m(1, seq), 1_500, &shards, &Unresolved);
        }
        // Another run's marker and an unknown publisher.
        assert!(!t.record(
            &Marker {
                run_id: 8,
                ..m(0, 9)
            },
            1_500,
            &shards,
            &Unresolved
        ));
        assert!(!t.record(&m(5, 0), 1_500, &shards, &Unresolved));
        let published = [set(&[0, 1, 2, 3, 4, 5, 6]), set(&[0, 1])];
        let s = t.finish(&published, &shards);
        assert_eq!(
            s,
            TallySummary {
                delivered: 6 + 2,
                unexpected: 1 + 1,
                duplicated: 1,
                reordered: 1,
                other_runs: 1,
                unmarked: 0,
            }
        );
        let h = shards.merged();
        assert_eq!(
            h.len(),
            s.delivered,
            "latency only for deliveries that count: publisher 1's seq 2 was never accepted"
        );
        assert_eq!(h.max(), 500);
    }

    #[test]
    fn live_acks_keep_a_failed_publish_out_of_latency() {
        let shards = LatencyShards::new(1);
        let acks = Acks::new(1);
        let mut t = Tally::new(7, 1, 0);
        acks.resolve(0, 0, true);
        // Seq 1 arrives before its POST is answered: pending, then refused.
        assert!(t.record(&m(0, 0), 1_100, &shards, &acks));
        assert!(t.record(&m(0, 1), 9_000, &shards, &acks));
        acks.resolve(0, 1, false);
        acks.resolve(0, 2, true);
        assert_eq!(acks.status(0, 1), Some(false));
        assert_eq!(acks.status(0, 2), Some(true));
        assert_eq!(acks.status(0, 3), None);
        assert!(t.record(&m(0, 2), 1_200, &shards, &acks));
        let s = t.finish(&[set(&[0, 2])], &shards);
        assert_eq!((s.delivered, s.unexpected), (2, 1));
        let h = shards.merged();
        assert_eq!(h.len(), 2);
        assert_eq!(h.max(), 200, "the refused message's 8 ms is not recorded");
    }

    #[test]
    fn acks_resolve_out_of_order_and_travel_as_snapshots() {
        let acks = Acks::new(2);
        acks.resolve(1, 1, true);
        assert_eq!(acks.status(1, 1), None, "0 is still in flight");
        acks.resolve(1, 0, false);
        assert_eq!(acks.status(1, 0), Some(false));
        assert_eq!(acks.status(1, 1), Some(true));
        let copy = Acks::new(2);
        copy.apply(&acks.snapshot());
        assert_eq!(copy.status(1, 0), Some(false));
        assert_eq!(copy.status(1, 1), Some(true));
        assert_eq!(copy.status(0, 0), None);
    }

    #[test]
    fn pending_stays_linear_and_resolves() {
        let shards = LatencyShards::new(1);
        let acks = Acks::new(1);
        let mut t = Tally::new(7, 1, 0);
        for seq in 0..1_000 {
            t.record(&m(0, seq), 1_010, &shards, &acks);
        }
        assert_eq!(t.pending.len(), 1_000);
        for seq in 0..1_000 {
            acks.resolve(0, seq, seq % 10 != 3);
        }
        t.resolve_pending(&acks, &shards);
        assert!(t.pending.is_empty());
        t.flush(&shards);
        assert_eq!(shards.merged().len(), 900);
    }

    #[test]
    fn an_own_tally_counts_only_its_publisher() {
        let shards = LatencyShards::new(1);
        let mut t = Tally::own(7, 3, 0);
        assert!(t.record(&m(3, 0), 1_500, &shards, &Unresolved));
        assert!(!t.record(&m(2, 0), 1_500, &shards, &Unresolved));
        assert!(!t.record(&m(4, 1), 1_500, &shards, &Unresolved));
        assert!(t.record(&m(3, 2), 1_500, &shards, &Unresolved));
        let s = t.finish(&[set(&[0, 1, 2])], &shards);
        assert_eq!((s.delivered, s.unexpected), (2, 2));
    }

    #[test]
    fn a_room_tally_expects_its_rooms_publishers_only() {
        let shards = LatencyShards::new(1);
        // 7 publishers in 3 rooms: room 1 has publishers 1 and 4.
        let mut t = Tally::in_room(7, 7, 3, 1, 0);
        assert_eq!(t.publishers.len(), 2);
        let acks = Acks::new(7);
        acks.resolve(4, 0, true);
        assert!(t.record(&m(1, 0), 1_100, &shards, &acks));
        assert!(t.record(&m(4, 0), 1_200, &shards, &acks));
        assert!(t.record(&m(4, 1), 1_300, &shards, &acks));
        // Rooms 0 and 2 leak into room 1; publisher 7 does not exist.
        assert!(!t.record(&m(0, 0), 1_100, &shards, &acks));
        assert!(!t.record(&m(5, 0), 1_100, &shards, &acks));
        assert!(!t.record(&m(7, 0), 1_100, &shards, &acks));
        let mut published = vec![RangeSet::default(); 7];
        published[1] = set(&[0, 1]);
        published[4] = set(&[0]);
        let s = t.finish(&published, &shards);
        // Publisher 4's seq 1 was never acknowledged: unexpected.
        assert_eq!((s.delivered, s.unexpected), (2, 3 + 1));
        assert_eq!(shards.merged().len(), 2);
        // The last room may have one publisher fewer.
        assert_eq!(Tally::in_room(7, 7, 3, 2, 0).publishers.len(), 2);
        assert_eq!(Tally::in_room(7, 7, 3, 0, 0).publishers.len(), 3);
    }

    #[test]
    fn latency_is_clamped_at_zero() {
        let shards = LatencyShards::new(1);
        let mut t = Tally::new(7, 1, 0);
        t.record(&m(0, 0), 10, &shards, &Unresolved);
        t.finish(&[set(&[0])], &shards);
        assert_eq!(shards.merged().max(), 0);
    }
}
