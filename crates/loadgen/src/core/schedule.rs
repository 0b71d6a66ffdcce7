//! The open-loop publish schedule and the run's clock.
//!
//! Message `k` of the run (all publishers together) is due at `t0 + k / rate`;
//! publisher `p` of `P` sends the messages with `k ≡ p (mod P)`, its `i`-th
//! being `k = i·P + p`. Publishers are evenly interleaved, so the total rate
//! is smooth whatever `P` is. A publisher that falls behind sends at once but
//! keeps the scheduled time in the marker: latency is measured from the
//! schedule (wrk2's fix for coordinated omission).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Messages scheduled in `duration` seconds at `rate` per second: every `k`
/// with `k / rate < duration`.
pub(crate) fn total_messages(rate: f64, duration: f64) -> u64 {
    let n = (rate * duration - 1e-9).ceil();
    if n.is_finite() && n > 0.0 {
        // Saturating cast: oversized values are refused by the caller.
        n as u64
    } else {
        0
    }
}

/// How many of `total` messages publisher `p` of `publishers` sends.
pub(crate) fn messages_for(p: usize, publishers: usize, total: u64) -> u64 {
    let (p, n) = (p as u64, publishers as u64);
    if p >= total {
        0
    } else {
        (total - p).div_ceil(n)
    }
}

/// Run-wide index of publisher `p`'s `i`-th message.
pub(crate) fn global_index(i: u64, p: usize, publishers: usize) -> u64 {
    i * publishers as u64 + p as u64
}

/// When message `k` is due, after the first one.
pub(crate) fn offset(k: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(k as f64 / rate)
}

/// Unix time in µs from a monotonic clock: the wall clock is read once, when
/// the run starts, and every later time is that plus an [`Instant`] offset, so
/// times never go backwards within a run while still being comparable with
/// other processes on the machine (markers carry Unix µs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    base_unix_us: u64,
}

impl Clock {
    pub fn new() -> Self {
        let base = Instant::now();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        Clock {
            base,
            base_unix_us: u64::try_from(unix).unwrap_or(u64::MAX),
        }
    }

    /// Unix µs of an instant of this run.
    pub fn unix_us(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.base).as_micros();
        self.base_unix_us
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// Unix µs now.
    pub fn now_us(&self) -> u64 {
        self.unix_us(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_rate_times_duration() {
        assert_eq!(total_messages(1.0, 10.0), 10);
        assert_eq!(total_messages(3.0, 1.0), 3);
        assert_eq!(total_messages(2.5, 1.0), 3, "k = 0, 1, 2 are before 1 s");
        assert_eq!(total_messages(0.1, 10.0), 1);
        assert_eq!(total_messages(0.1, 10.5), 2);
        assert_eq!(total_messages(1000.0, 0.0001), 1);
    }

    #[test]
    fn publishers_share_every_message_once() {
        for total in [0u64, 1, 7, 10, 11, 100] {
            for publishers in [1usize, 2, 3, 7, 16] {
                let mut seen = vec![0u32; total as usize];
                for p in 0..publishers {
                    for i in 0..messages_for(p, publishers, total) {
                        seen[global_index(i, p, publishers) as usize] += 1;
                    }
                }
                assert!(
                    seen.iter().all(|&c| c == 1),
                    "total {total} publishers {publishers}"
                );
            }
        }
    }

    #[test]
    fn schedule_is_evenly_spaced() {
        assert_eq!(offset(0, 4.0), Duration::ZERO);
        assert_eq!(offset(1, 4.0), Duration::from_millis(250));
        assert_eq!(
            offset(global_index(2, 1, 3), 10.0),
            Duration::from_millis(700)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn clock_is_monotonic_and_in_micros() {
        let c = Clock::new();
        let a = c.now_us();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(c.now_us() - a, 1_500_000);
    }
}
