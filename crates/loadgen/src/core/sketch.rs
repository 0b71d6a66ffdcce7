//! A small latency sketch for one second of a run: log-linear buckets
//! (32 per power of two, exact below 64 µs), kept sparse as a sorted list.
//!
//! A full HdrHistogram per second would cost ~190 KB, 680 MB an hour; a
//! second's deliveries usually fall in a few dozen buckets, ~8 bytes each.
//! Buckets add exactly, so worker processes' seconds merge into what one
//! process would have counted.

use serde::{Deserialize, Serialize};

/// Sub-buckets per power of two (2^5: each bucket spans at most 1/32 of
/// its lower bound, so a reported percentile is within 3.2 %).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Values below this are their own bucket.
const LINEAR: u64 = 2 * SUB;

/// Sparse log-linear bucket counts, sorted by bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sketch {
    buckets: Vec<(u16, u32)>,
}

fn bucket(v: u64) -> u16 {
    if v < LINEAR {
        return v as u16;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS + 1
    let shift = e - SUB_BITS;
    let mant = (v >> shift) - SUB; // 0..SUB
    (LINEAR + u64::from(e - SUB_BITS - 1) * SUB + mant) as u16
}

/// The highest value that falls in bucket `b`.
fn highest(b: u16) -> u64 {
    let b = u64::from(b);
    if b < LINEAR {
        return b;
    }
    let e = (b - LINEAR) / SUB + u64::from(SUB_BITS) + 1;
    let mant = (b - LINEAR) % SUB;
    let shift = e - u64::from(SUB_BITS);
    let lo = (SUB + mant) << shift;
    lo.saturating_add((1u64 << shift) - 1)
}

impl Sketch {
    /// Counts one value.
    pub fn record(&mut self, v: u64) {
        self.add(bucket(v), 1);
    }

    fn add(&mut self, b: u16, n: u32) {
        match self.buckets.binary_search_by_key(&b, |x| x.0) {
            Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(n),
            Err(i) => self.buckets.insert(i, (b, n)),
        }
    }

    /// Adds another sketch's counts.
    pub fn merge(&mut self, o: &Sketch) {
        for &(b, n) in &o.buckets {
            self.add(b, n);
        }
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| u64::from(b.1)).sum()
    }

    /// The value at quantile `q` (0..=1): the highest value of the bucket
    /// holding the `ceil(q × count)`-th smallest, at most `max`; 0 when empty.
    pub fn quantile(&self, q: f64, max: u64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for &(b, c) in &self.buckets {
            seen += u64::from(c);
            if seen >= rank {
                return highest(b).min(max);
            }
        }
        max
    }

    /// Bytes this sketch holds on the heap.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<(u16, u32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in (0..200_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            last = b;
            let hi = highest(b);
            assert!(hi >= v, "{v} in bucket {b} up to {hi}");
            assert!((hi - v) as f64 <= v as f64 / 31.0, "{v}: {hi}");
        }
        assert_eq!(highest(bucket(63)), 63, "exact below 64");
    }

    #[test]
    fn quantiles_follow_the_values_within_the_bucket_width() {
        let mut s = Sketch::default();
        for v in 1..=1000u64 {
            s.record(v * 100);
        }
        assert_eq!(s.count(), 1000);
        let p50 = s.quantile(0.5, 100_000);
        assert!((50_000..=50_000 * 33 / 32).contains(&p50), "{p50}");
        let p99 = s.quantile(0.99, 100_000);
        assert!((99_000..=100_000).contains(&p99), "{p99}");
        assert_eq!(s.quantile(1.0, 100_000), 100_000, "never above max");
        assert_eq!(Sketch::default().quantile(0.5, 0), 0);
    }

    #[test]
    fn merged_sketches_equal_one_sketch_of_all_values() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for v in 0..5_000u64 {
            let x = v * v % 77_777;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            all.record(x);
        }
        a.merge(&b);
        assert_eq!(a, all);
    }

    #[test]
    fn a_second_of_clustered_latencies_is_small() {
        let mut s = Sketch::default();
        for v in 0..100_000u64 {
            s.record(800 + v % 400);
        }
        assert!(s.heap_bytes() <= 64 * 8, "{}", s.heap_bytes());
    }
}
