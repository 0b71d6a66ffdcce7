//! The run second by second, as each process accumulates it: seconds are
//! keyed by Unix second, so a worker process's seconds and the parent's
//! line up without a handshake (publishing starts on a whole Unix second,
//! see `run`), and merging two timelines is adding their seconds.
//!
//! Three sources fill it, none on a per-delivery lock:
//! - deliveries and their latency, from the subscribers' latency batches
//!   (with the latency shards, one lock per 64 deliveries);
//! - connected subscribers, requests, bytes and errors, sampled once a
//!   second by the sampler (`roles::sampler`);
//! - published and lost, computed when the run is over from the
//!   publishers' acknowledged sets and the schedule.
//!
//! One second costs ~100 bytes plus its sketch (a few dozen buckets, 8
//! bytes each): well under 1 MB per hour of run.

use std::collections::BTreeMap;

use pushpoll_results::{TimelineEntry, TimelineLatency};
use serde::{Deserialize, Serialize};

use crate::core::ranges::RangeSet;
use crate::core::schedule::Schedule;
use crate::core::sketch::Sketch;

/// What one process counted in one second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Second {
    pub connected: u64,
    pub published: u64,
    pub delivered: u64,
    pub lost: u64,
    pub requests: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub errors: u64,
    pub latency_max: u64,
    pub latency: Sketch,
}

impl Second {
    fn merge(&mut self, o: &Second) {
        self.connected += o.connected;
        self.published += o.published;
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.requests += o.requests;
        self.bytes_up += o.bytes_up;
        self.bytes_down += o.bytes_down;
        self.errors += o.errors;
        self.latency_max = self.latency_max.max(o.latency_max);
        self.latency.merge(&o.latency);
    }
}

/// Seconds keyed by Unix second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Timeline {
    seconds: BTreeMap<u64, Second>,
}

impl Timeline {
    /// The second starting at Unix second `s`.
    pub fn at(&mut self, s: u64) -> &mut Second {
        self.seconds.entry(s).or_default()
    }

    /// A delivery received at `recv_us` (Unix µs) after `latency_us`.
    pub fn delivery(&mut self, recv_us: u64, latency_us: u64) {
        let s = self.at(recv_us / 1_000_000);
        s.delivered += 1;
        s.latency_max = s.latency_max.max(latency_us);
        s.latency.record(latency_us);
    }

    /// Takes the seconds before Unix second `s` out, leaving the rest.
    pub fn take_before(&mut self, s: u64) -> Timeline {
        let rest = self.seconds.split_off(&s);
        Timeline {
            seconds: std::mem::replace(&mut self.seconds, rest),
        }
    }

    /// Adds another process's (or shard's) seconds.
    pub fn merge(&mut self, o: &Timeline) {
        for (&k, s) in &o.seconds {
            self.at(k).merge(s);
        }
    }

    /// Deliveries counted over all seconds.
    #[cfg(test)]
    pub fn delivered(&self) -> u64 {
        self.seconds.values().map(|s| s.delivered).sum()
    }

    /// The entries of the result: every second from the first to the last
    /// counted (gaps filled with empty seconds), `t_s` relative to `t0_s`,
    /// the Unix second publishing started on.
    pub fn entries(&self, t0_s: u64) -> Vec<TimelineEntry> {
        let (Some((&first, _)), Some((&last, _))) = (
            self.seconds.first_key_value(),
            self.seconds.last_key_value(),
        ) else {
            return Vec::new();
        };
        let empty = Second::default();
        (first..=last)
            .map(|k| {
                let s = self.seconds.get(&k).unwrap_or(&empty);
                TimelineEntry {
                    t_s: k as i64 - t0_s as i64,
                    connected: s.connected,
                    published: s.published,
                    delivered: s.delivered,
                    lost: s.lost,
                    latency_us: TimelineLatency {
                        p50: s.latency.quantile(0.50, s.latency_max),
                        p99: s.latency.quantile(0.99, s.latency_max),
                        max: s.latency_max,
                    },
                    requests: s.requests,
                    bytes_up: s.bytes_up,
                    bytes_down: s.bytes_down,
                    errors: s.errors,
                }
            })
            .collect()
    }
}

/// Where a set of one publisher's messages falls in the schedule: calls
/// `add(second, count)` for each second (from the start of publishing)
/// holding some of them, in order. Publisher `p` of `publishers` sends
/// run-wide messages `i·publishers + p`; the work is linear in ranges and
/// seconds, not in messages.
pub(crate) fn by_second(
    set: &RangeSet,
    p: usize,
    publishers: usize,
    schedule: &Schedule,
    mut add: impl FnMut(u64, u64),
) {
    let (p, n) = (p as u64, publishers.max(1) as u64);
    for &(lo, hi) in set.ranges() {
        let mut i = lo;
        while i < hi {
            let s = schedule.second_of(i * n + p);
            // First i whose message falls in a later second.
            let next_k = schedule.first_in_second(s + 1);
            let next_i = if next_k <= p {
                i + 1
            } else {
                (next_k - p).div_ceil(n).max(i + 1)
            };
            let end = next_i.min(hi);
            add(s, end - i);
            i = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(xs: impl IntoIterator<Item = u64>) -> RangeSet {
        let mut s = RangeSet::default();
        for x in xs {
            s.insert(x);
        }
        s
    }

    #[test]
    fn seconds_of_a_set_match_message_by_message() {
        for rate in [0.5, 1.0, 3.0, 7.5, 100.0] {
            let schedule = Schedule::constant(rate, 9.0);
            for publishers in [1usize, 2, 3] {
                for p in 0..publishers {
                    let n = publishers as u64;
                    let acked = set((0..40u64)
                        .filter(|i| i % 7 != 3 && *i != 11 && i * n + (p as u64) < schedule.total));
                    let mut fast = BTreeMap::new();
                    by_second(&acked, p, publishers, &schedule, |s, n| {
                        *fast.entry(s).or_insert(0) += n
                    });
                    let mut slow = BTreeMap::new();
                    for &(lo, hi) in acked.ranges() {
                        for i in lo..hi {
                            let k = i * publishers as u64 + p as u64;
                            let s = schedule.offset(k).as_secs_f64().floor() as u64;
                            assert_eq!(s, schedule.second_of(k), "rate {rate} k {k}");
                            *slow.entry(s).or_insert(0) += 1;
                        }
                    }
                    assert_eq!(fast, slow, "rate {rate} publishers {publishers} p {p}");
                }
            }
        }
    }

    #[test]
    fn merged_timelines_add_up_and_fill_gaps() {
        let mut a = Timeline::default();
        let mut b = Timeline::default();
        a.delivery(100_000_000, 500);
        a.delivery(100_999_999, 700);
        b.delivery(102_000_000, 9_000);
        b.at(99).connected = 4;
        a.merge(&b);
        assert_eq!(a.delivered(), 3);
        let e = a.entries(100);
        assert_eq!(e.iter().map(|e| e.t_s).collect::<Vec<_>>(), [-1, 0, 1, 2]);
        assert_eq!(e[0].connected, 4);
        assert_eq!(e[1].delivered, 2);
        assert_eq!(e[1].latency_us.max, 700);
        assert!((500..=503).contains(&e[1].latency_us.p50));
        assert_eq!(
            e[2],
            TimelineEntry {
                t_s: 1,
                ..TimelineEntry::default()
            }
        );
        assert_eq!(e[3].latency_us.p99, 9_000);
        let early = a.take_before(101);
        assert_eq!((early.delivered(), a.delivered()), (2, 1));
        let mut back = early.clone();
        back.merge(&a);
        assert_eq!(
            back.entries(100),
            e,
            "taking and merging back loses nothing"
        );
    }
}
