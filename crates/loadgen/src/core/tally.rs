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
use crate::core::schedule::Schedule;
use crate::core::timeline::{self, Timeline};

/// Latencies a subscriber buffers before adding them to a shared shard.
const BATCH: usize = 64;

/// How many latency shards a run's subscribers share: a few per core, so
/// that batches from different tasks rarely wait for one another.
pub(crate) fn shard_count() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get() * 4)
        .clamp(4, 64)
}

/// The run's latency histograms and per-second delivery counts: a few
/// shards behind mutexes, filled by subscribers in batches, merged at the
/// end.
///
/// A full HdrHistogram per subscriber (3 significant figures, up to an hour)
/// is ~190 KB: a hundred thousand subscribers could not afford one each.
/// Batching keeps the lock off the per-delivery path (one lock per 64
/// deliveries, spread over the shards).
#[derive(Debug)]
pub(crate) struct LatencyShards {
    shards: Vec<Mutex<(Histogram<u64>, Timeline)>>,
    /// The same latencies by bucket, read live by `--metrics-addr`.
    buckets: Arc<LatencyBuckets>,
}

impl LatencyShards {
    pub fn new(count: usize) -> Self {
        LatencyShards {
            shards: (0..count.max(1))
                .map(|_| Mutex::new((new_histogram(), Timeline::default())))
                .collect(),
            buckets: Arc::default(),
        }
    }

    /// The same shards, also counting into `buckets` (the run's live ones).
    pub fn feeding(self, buckets: Arc<LatencyBuckets>) -> Self {
        LatencyShards { buckets, ..self }
    }

    /// Records `(received at, Unix µs; latency, µs)` pairs.
    fn record_all(&self, shard: usize, values: &[(u64, u64)]) {
        let mut g = self.shards[shard % self.shards.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (h, t) = &mut *g;
        for &(at, v) in values {
            h.saturating_record(v);
            t.delivery(at, v);
        }
        drop(g);
        self.buckets.record(values.iter().map(|&(_, v)| v));
    }

    /// All shards merged.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for s in &self.shards {
            let g = s.lock().unwrap_or_else(|p| p.into_inner());
            // Same bounds everywhere, so adding cannot fail.
            let _ = all.add(&g.0);
        }
        all
    }

    /// Takes the seconds before Unix second `s` out of every shard (the
    /// sampler moves them into its own timeline once a second, so that the
    /// shards hold only the last second or two whatever the run's length).
    pub fn take_timeline_before(&self, s: u64) -> Timeline {
        let mut all = Timeline::default();
        for sh in &self.shards {
            let taken = sh
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .1
                .take_before(s);
            all.merge(&taken);
        }
        all
    }

    /// The deliveries per second of all shards.
    pub fn timeline(&self) -> Timeline {
        let mut all = Timeline::default();
        for s in &self.shards {
            all.merge(&s.lock().unwrap_or_else(|p| p.into_inner()).1);
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
    /// Accepted deliveries not yet in the shards: (received at, Unix µs;
    /// latency, µs).
    batch: Vec<(u64, u64)>,
    /// Deliveries whose publish is unresolved: (run-wide publisher index as
    /// `finish` knows it, seq, received at, latency µs).
    pending: Vec<(u32, u64, u64, u64)>,
    /// Pending length at which they are checked again (amortised).
    pending_check: usize,
}

/// Expected deliveries that never arrived, by the second of publishing
/// their message was scheduled in, for the run's timeline.
#[derive(Debug)]
pub(crate) struct LostBySecond<'a> {
    pub schedule: &'a Schedule,
    pub publishers: usize,
    /// The Unix second publishing started on.
    pub t0_s: u64,
    pub timeline: Timeline,
    /// `--churn-guard`, µs.
    pub guard_us: u64,
}

/// A churned subscriber's time away: (left at, rejoined at), Unix µs;
/// `None` when it had not rejoined by the end.
pub(crate) type Gap = (u64, Option<u64>);

impl LostBySecond<'_> {
    /// Messages due before Unix µs `t`.
    fn due_before(&self, t_us: u64) -> u64 {
        let rel = t_us.saturating_sub(self.t0_s * 1_000_000) as f64 / 1e6;
        self.schedule.due_before(rel)
    }

    /// Publisher `p`'s messages (its own seq numbers) among run-wide
    /// messages `a..b`.
    fn own(&self, (a, b): (u64, u64), p: usize) -> (u64, u64) {
        let (p, n) = (p as u64, self.publishers.max(1) as u64);
        let first = |k: u64| if k > p { (k - p).div_ceil(n) } else { 0 };
        (first(a), first(b))
    }

    /// What `gaps` take out of publisher `p`'s messages: those scheduled
    /// while away (absent), and those within the guard of a leave or a
    /// rejoin (boundary).
    fn windows(&self, gaps: &[Gap], p: usize) -> (RangeSet, RangeSet) {
        let (mut absent, mut boundary) = (Vec::new(), Vec::new());
        let total = self.schedule.total;
        for &(left, back) in gaps {
            let at_leave = self.due_before(left);
            let guard_start = self.due_before(left.saturating_sub(self.guard_us));
            boundary.push(self.own((guard_start, at_leave), p));
            match back {
                Some(back) => {
                    let at_back = self.due_before(back);
                    let guard_end = self.due_before(back.saturating_add(self.guard_us));
                    absent.push(self.own((at_leave, at_back), p));
                    boundary.push(self.own((at_back, guard_end), p));
                }
                None => absent.push(self.own((at_leave, total), p)),
            }
        }
        let absent = RangeSet::from_ranges(absent);
        let boundary = RangeSet::from_ranges(boundary).difference(&absent);
        (absent, boundary)
    }

    /// Counts `missed`, messages of publisher `p`.
    pub fn add(&mut self, missed: &RangeSet, p: usize) {
        let (t0, tl) = (self.t0_s, &mut self.timeline);
        timeline::by_second(missed, p, self.publishers, self.schedule, |s, n| {
            tl.at(t0 + s).lost += n;
        });
    }
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
    /// Deliveries this subscriber was expected to receive (with `lost`).
    #[serde(default)]
    pub expected: u64,
    /// Expected deliveries that never arrived (with `lost`).
    #[serde(default)]
    pub lost: u64,
    /// Deliveries inside a churn guard: neither expected nor lost.
    #[serde(default)]
    pub boundary: u64,
}

impl TallySummary {
    pub fn add(&mut self, o: TallySummary) {
        self.delivered += o.delivered;
        self.unexpected += o.unexpected;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.other_runs += o.other_runs;
        self.unmarked += o.unmarked;
        self.expected += o.expected;
        self.lost += o.lost;
        self.boundary += o.boundary;
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
            Some(true) => self.push_latency(now_us, latency, shards),
            // Failed publish: counted as unexpected in `finish`, no latency.
            Some(false) => {}
            None => self.pending.push((global as u32, m.seq, now_us, latency)),
        }
        if !self.pending.is_empty() && self.pending.len() >= self.pending_check {
            self.resolve_pending(acks, shards);
        }
        true
    }

    fn push_latency(&mut self, at: u64, latency: u64, shards: &LatencyShards) {
        if self.batch.capacity() == 0 {
            self.batch.reserve_exact(BATCH);
        }
        self.batch.push((at, latency));
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
            |&(slot, seq, at, latency)| match acks.status(slot as usize, seq) {
                Some(true) => {
                    self.push_latency(at, latency, shards);
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
    /// latencies of accepted messages are recorded now. With `lost`, the
    /// subscriber was expected to receive every accepted message: those it
    /// missed are counted there in the second they were scheduled in.
    pub fn finish(
        mut self,
        published: &[RangeSet],
        shards: &LatencyShards,
        lost: Option<&mut LostBySecond<'_>>,
        gaps: &[Gap],
    ) -> TallySummary {
        let empty = RangeSet::default();
        for (slot, seq, at, latency) in std::mem::take(&mut self.pending) {
            if published.get(slot as usize).unwrap_or(&empty).contains(seq) {
                self.push_latency(at, latency, shards);
            }
        }
        let (mut expected, mut missed_all, mut boundary) = (0, 0, 0);
        if let Some(lost) = lost {
            for (slot, seen) in self.publishers.iter().enumerate() {
                let acked = published.get(self.published_index(slot)).unwrap_or(&empty);
                // The run-wide publisher, whose schedule the windows follow.
                let p = self.base as usize + slot * self.stride as usize;
                let (absent, guarded) = lost.windows(gaps, p);
                let want = acked.difference(&absent).difference(&guarded);
                let missed = want.difference(&seen.set);
                expected += want.len();
                boundary += acked.intersection_len(&guarded);
                missed_all += missed.len();
                lost.add(&missed, p);
            }
        }
        self.flush(shards);
        let mut s = TallySummary {
            unexpected: self.foreign,
            duplicated: self.duplicated,
            reordered: self.reordered,
            other_runs: self.other_runs,
            unmarked: self.unmarked,
            expected,
            lost: missed_all,
            boundary,
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
mod tests;
