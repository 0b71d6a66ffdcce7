//! The open-loop publish schedule and the run's clock.
//!
//! Message `k` of the run (all publishers together) is due at `t0 + k / rate`;
//! publisher `p` of `P` sends the messages with `k ≡ p (mod P)`, its `i`-th
//! being `k = i·P + p`. Publishers are evenly interleaved, so the total rate
//! is smooth whatever `P` is. A publisher that falls behind sends at once but
//! keeps the scheduled time in the marker: latency is measured from the
//! schedule (wrk2's fix for coordinated omission).
//!
//! With `--rate-stages` the rate is piecewise linear instead (k6's stages:
//! from 0 msg/s, linear to each stage's target over its duration), and
//! message `k` is due when the integral of the rate passes `k`: the
//! [`Schedule`] below. A constant rate is one flat stage.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Messages scheduled in `duration` seconds at `rate` per second: every `k`
/// with `k / rate < duration` (what [`Schedule::constant`] must agree with).
#[cfg(test)]
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

/// The run's publish schedule: when each run-wide message `k` is due, and
/// which second of publishing it falls in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Schedule {
    /// Segments of linear rate: (start s, length s, rate at start, rate at
    /// end, messages due before the start).
    segments: Vec<Segment>,
    /// Messages due in the whole schedule.
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start: f64,
    len: f64,
    from: f64,
    to: f64,
    before: f64,
}

impl Segment {
    /// Messages due from the segment's start until `x` seconds into it.
    fn count(&self, x: f64) -> f64 {
        let x = x.clamp(0.0, self.len);
        self.from * x + (self.to - self.from) * x * x / (2.0 * self.len)
    }
}

impl Schedule {
    /// `rate` msg/s for `duration` seconds.
    pub fn constant(rate: f64, duration: f64) -> Self {
        Schedule::build(rate, &[(duration, rate)])
    }

    /// k6's stages: from `start` msg/s, linear to each `(seconds, target)`.
    pub fn stages(stages: &[(f64, f64)]) -> Self {
        Schedule::build(0.0, stages)
    }

    fn build(start_rate: f64, stages: &[(f64, f64)]) -> Self {
        let (mut t, mut from, mut before) = (0.0, start_rate, 0.0);
        let mut segments = Vec::with_capacity(stages.len());
        for &(len, to) in stages {
            if len <= 0.0 {
                continue;
            }
            let seg = Segment {
                start: t,
                len,
                from,
                to,
                before,
            };
            before += seg.count(len);
            segments.push(seg);
            t += len;
            from = to;
        }
        let n = (before - 1e-9).ceil();
        let total = if n.is_finite() && n > 0.0 {
            n as u64
        } else {
            0
        };
        Schedule { segments, total }
    }

    /// Messages due before `t` seconds of publishing (at most `total`).
    pub fn due_before(&self, t: f64) -> u64 {
        let Some(seg) = self.segments.iter().rev().find(|s| s.start <= t) else {
            return 0;
        };
        let n = (seg.before + seg.count(t - seg.start) - 1e-9).ceil();
        if n > 0.0 {
            (n as u64).min(self.total)
        } else {
            0
        }
    }

    /// When message `k` is due, after the start of publishing: the instant
    /// the integral of the rate passes `k`.
    pub fn offset(&self, k: u64) -> Duration {
        let k = k as f64;
        let Some(seg) = self
            .segments
            .iter()
            .find(|s| s.before + s.count(s.len) > k)
            .or(self.segments.last())
        else {
            return Duration::ZERO;
        };
        let m = (k - seg.before).max(0.0);
        let slope = (seg.to - seg.from) / seg.len;
        // Root of from·x + slope·x²/2 = m, in the form that stays exact
        // when the slope is 0 and the rate at the start is 0.
        let disc = (seg.from * seg.from + 2.0 * slope * m).max(0.0);
        let denom = seg.from + disc.sqrt();
        let x = if denom > 0.0 { 2.0 * m / denom } else { 0.0 };
        Duration::from_secs_f64((seg.start + x.min(seg.len)).max(0.0))
    }

    /// The first message due in second `s` of publishing (or `total`).
    pub fn first_in_second(&self, s: u64) -> u64 {
        self.due_before(s as f64)
    }

    /// The second of publishing message `k` falls in.
    pub fn second_of(&self, k: u64) -> u64 {
        let mut s = self.offset(k).as_secs_f64().floor() as u64;
        if k >= self.total {
            // Past the schedule (never asked for a published message).
            return s;
        }
        // Agree exactly with `first_in_second` whatever the rounding.
        while s > 0 && self.first_in_second(s) > k {
            s -= 1;
        }
        while self.first_in_second(s + 1) <= k {
            s += 1;
        }
        s
    }

    /// The rate at `t` seconds of publishing, msg/s.
    pub fn rate_at(&self, t: f64) -> f64 {
        match self.segments.iter().rev().find(|s| s.start <= t) {
            Some(seg) if t < seg.start + seg.len => {
                seg.from + (seg.to - seg.from) * (t - seg.start) / seg.len
            }
            Some(seg) => seg.to,
            None => 0.0,
        }
    }
}

/// One k6 stage: seconds, and the target at its end.
pub(crate) type Stage = (f64, f64);

/// The target at `t` seconds into the stages (linear within a stage, from
/// `start` before the first; the last target after the end).
pub(crate) fn target_at(stages: &[Stage], start: f64, t: f64) -> f64 {
    let (mut at, mut from) = (0.0, start);
    for &(len, to) in stages {
        if t < at + len {
            return from + (to - from) * (t - at).max(0.0) / len;
        }
        at += len;
        from = to;
    }
    from
}

/// Which stage (0-based) `t` seconds falls in, `None` past the end.
pub(crate) fn stage_at(stages: &[Stage], t: f64) -> Option<usize> {
    let mut at = 0.0;
    for (i, &(len, _)) in stages.iter().enumerate() {
        at += len;
        if t < at {
            return Some(i);
        }
    }
    None
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

    /// The instant of a Unix µs time of this run (not before its start).
    pub fn instant_at(&self, unix_us: u64) -> Instant {
        self.base + Duration::from_micros(unix_us.saturating_sub(self.base_unix_us))
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

    #[test]
    fn a_constant_schedule_matches_the_formulas() {
        for (rate, duration) in [(1.0, 10.0), (3.0, 1.0), (2.5, 1.0), (0.1, 10.5), (7.5, 4.0)] {
            let s = Schedule::constant(rate, duration);
            assert_eq!(s.total, total_messages(rate, duration), "{rate} {duration}");
            for k in 0..s.total {
                let d = s.offset(k).as_secs_f64() - offset(k, rate).as_secs_f64();
                assert!(d.abs() < 1e-6, "{rate} {k}: {d}");
            }
        }
    }

    #[test]
    fn stage_targets_are_linear_within_a_stage() {
        let s = [(30.0, 100.0), (60.0, 100.0), (0.5, 0.0)];
        assert_eq!(target_at(&s, 0.0, 15.0), 50.0);
        assert_eq!(target_at(&s, 0.0, 31.0), 100.0);
        assert_eq!(target_at(&s, 0.0, 1e9), 0.0);
        assert_eq!(stage_at(&s, 90.2), Some(2));
    }

    #[test]
    fn stages_ramp_linearly_like_k6() {
        // 0 → 10 msg/s over 2 s, 10 for 2 s, 10 → 0 over 2 s: 10 + 20 + 10.
        let s = Schedule::stages(&[(2.0, 10.0), (2.0, 10.0), (2.0, 0.0)]);
        assert_eq!(s.total, 40);
        // Ramp: k due when 10·t²/4 = k, so message 10 at t = 2.
        assert!((s.offset(10).as_secs_f64() - 2.0).abs() < 1e-9);
        assert!((s.offset(5).as_secs_f64() - 2f64.sqrt()).abs() < 1e-9);
        assert!((s.offset(15).as_secs_f64() - 2.5).abs() < 1e-9);
        assert_eq!(s.offset(0), Duration::ZERO);
        // Per second: 2.5, 7.5 (ramp), 10, 10, then 7.5, 2.5 down.
        let per_second: Vec<u64> = (0..6)
            .map(|t| s.first_in_second(t + 1) - s.first_in_second(t))
            .collect();
        assert_eq!(per_second.iter().sum::<u64>(), 40);
        assert_eq!(per_second, [3, 7, 10, 10, 8, 2]);
        for k in 0..s.total {
            let sec = s.second_of(k);
            assert!(s.first_in_second(sec) <= k && k < s.first_in_second(sec + 1));
        }
        assert_eq!(s.rate_at(1.0), 5.0);
        assert_eq!(s.rate_at(3.0), 10.0);
        assert_eq!(s.rate_at(9.0), 0.0);
        // A pause first: nothing is due until the rate rises.
        let p = Schedule::stages(&[(3.0, 0.0), (1.0, 4.0)]);
        assert_eq!(p.total, 2);
        assert!((p.offset(0).as_secs_f64() - 3.0).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn clock_is_monotonic_and_in_micros() {
        let c = Clock::new();
        let a = c.now_us();
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(c.now_us() - a, 1_500_000);
    }
}
