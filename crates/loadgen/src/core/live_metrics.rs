//! Live figures that only the generator's `/metrics` endpoint
//! (`--metrics-addr`) reads while a run goes on: latency buckets, errors by
//! kind, and the socket counters worker processes report.
//!
//! None of them adds work where every delivery or byte passes: latencies
//! reach the buckets in the batches subscribers already hand to the shared
//! histogram shards (a few atomic adds per batch of 64), errors by kind are
//! counted under a lock taken only when an error happens, and the worker
//! sums are written twice a second by the parent's reader of each worker.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Upper bounds (inclusive, µs) of the latency histogram's buckets; a last,
/// unbounded bucket (`+Inf`) follows. From half a millisecond on a loopback
/// to ten seconds of a server that fell behind.
pub(crate) const LATENCY_BOUNDS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// Buckets in all: one per bound, and `+Inf`.
const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// Latencies of accepted deliveries (the same ones the run's HdrHistogram
/// gets), counted per bucket.
#[derive(Debug, Default)]
pub(crate) struct LatencyBuckets {
    counts: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

/// A copy of [`LatencyBuckets`]: counts per bucket (not cumulative, the
/// last one `+Inf`) and the sum, µs. Worker processes send theirs to the
/// parent.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LatencySnapshot {
    pub(crate) counts: Vec<u64>,
    pub(crate) sum_us: u64,
}

impl LatencySnapshot {
    /// Latencies counted in all.
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What `self` holds beyond `before` (an earlier snapshot of the same
    /// buckets).
    pub(crate) fn minus(&self, before: &LatencySnapshot) -> LatencySnapshot {
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
        LatencySnapshot {
            counts: (0..self.counts.len())
                .map(|i| at(&self.counts, i).saturating_sub(at(&before.counts, i)))
                .collect(),
            sum_us: self.sum_us.saturating_sub(before.sum_us),
        }
    }
}

impl LatencyBuckets {
    /// Counts a batch of latencies, µs.
    pub(crate) fn record(&self, values_us: &[u64]) {
        let mut counts = [0u64; BUCKETS];
        let mut sum = 0u64;
        for &v in values_us {
            counts[LATENCY_BOUNDS_US.partition_point(|&b| b < v)] += 1;
            sum = sum.saturating_add(v);
        }
        self.add_counts(&counts, sum);
    }

    /// Adds another process's counts (a worker's, as a difference).
    pub(crate) fn add(&self, s: &LatencySnapshot) {
        let mut counts = [0u64; BUCKETS];
        for (c, n) in counts.iter_mut().zip(&s.counts) {
            *c = *n;
        }
        self.add_counts(&counts, s.sum_us);
    }

    fn add_counts(&self, counts: &[u64; BUCKETS], sum_us: u64) {
        for (a, &n) in self.counts.iter().zip(counts) {
            if n != 0 {
                a.fetch_add(n, Relaxed);
            }
        }
        if sum_us != 0 {
            self.sum_us.fetch_add(sum_us, Relaxed);
        }
    }

    /// The counts now.
    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            counts: self.counts.iter().map(|c| c.load(Relaxed)).collect(),
            sum_us: self.sum_us.load(Relaxed),
        }
    }
}

/// Errors by kind, run-wide, as they happen (each task also keeps its own
/// count, which the result sums exactly at the end).
#[derive(Debug, Default)]
pub(crate) struct ErrorKinds(Mutex<BTreeMap<String, u64>>);

impl ErrorKinds {
    /// Adds `n` errors of `kind`.
    pub(crate) fn add(&self, kind: &str, n: u64) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(kind) {
            Some(c) => *c += n,
            None => {
                map.insert(kind.to_owned(), n);
            }
        }
    }

    /// The counts now.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The socket counters of a run's worker processes, summed in the parent
/// from their progress reports (a run without workers reads its
/// subscribers' counters directly).
#[derive(Debug, Default)]
pub(crate) struct RemoteIo {
    pub(crate) up: AtomicU64,
    pub(crate) down: AtomicU64,
    pub(crate) requests: AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_the_first_bucket_that_holds_them() {
        let b = LatencyBuckets::default();
        b.record(&[0, 500, 501, 10_000_000, 10_000_001]);
        let s = b.snapshot();
        assert_eq!(s.counts.len(), BUCKETS);
        assert_eq!((s.counts[0], s.counts[1]), (2, 1));
        assert_eq!((s.counts[BUCKETS - 2], s.counts[BUCKETS - 1]), (1, 1));
        assert_eq!(s.count(), 5);
        assert_eq!(s.sum_us, 20_001_002);
        let before = s.clone();
        b.record(&[700]);
        let d = b.snapshot().minus(&before);
        assert_eq!((d.count(), d.counts[1], d.sum_us), (1, 1, 700));
        let other = LatencyBuckets::default();
        other.add(&s);
        assert_eq!(other.snapshot(), s);
    }

    #[test]
    fn error_kinds_add_up() {
        let e = ErrorKinds::default();
        e.add("reset", 1);
        e.add("timeout", 2);
        e.add("reset", 3);
        assert_eq!(
            e.snapshot().into_iter().collect::<Vec<_>>(),
            [("reset".to_owned(), 4), ("timeout".to_owned(), 2)]
        );
    }
}
