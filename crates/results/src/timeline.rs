//! A run over time: one [`TimelineEntry`] per second, and the CSV form
//! `--csv` writes.
//!
//! Seconds are counted from the start of publishing (`t_s` 0 is the first
//! second of the schedule), so ramp-up and the idle window have negative
//! `t_s`, and runs of different lengths line up on the same axis.

use serde::{Deserialize, Serialize};

/// What happened in one second of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Start of the second, relative to the first scheduled publish
    /// (negative during ramp-up and the idle window).
    pub t_s: i64,
    /// Subscribers connected at the end of the second.
    pub connected: u64,
    /// Messages scheduled in this second that the server accepted.
    pub published: u64,
    /// Expected deliveries that arrived in this second (first arrivals of
    /// accepted messages); the entries' sum is the run's `delivered`.
    pub delivered: u64,
    /// Expected deliveries that never arrived, counted in the second their
    /// message was scheduled in; the entries' sum is the run's `lost`.
    pub lost: u64,
    /// Latency of this second's deliveries, µs (0 when none).
    pub latency_us: TimelineLatency,
    /// HTTP requests the subscribers sent (handshakes and polls).
    pub requests: u64,
    /// Bytes the subscribers' sockets wrote.
    pub bytes_up: u64,
    /// Bytes the subscribers' sockets read.
    pub bytes_down: u64,
    /// Errors of every kind (subscribers' and publishers').
    pub errors: u64,
}

/// Latency percentiles of one second's deliveries, µs. `p50` and `p99` come
/// from a log-bucketed sketch (within 3.2 % of the exact value, never above
/// `max`); `max` is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimelineLatency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

/// The CSV header `--csv` writes, in column order.
pub const CSV_HEADER: &str = "t_s,connected,published,delivered,lost,latency_p50_us,latency_p99_us,latency_max_us,requests,bytes_up,bytes_down,errors";

/// A timeline as CSV: the [`CSV_HEADER`] row, then one row per entry.
pub fn to_csv(timeline: &[TimelineEntry]) -> String {
    let mut out = String::with_capacity(64 * (timeline.len() + 1));
    out.push_str(CSV_HEADER);
    out.push('\n');
    for e in timeline {
        let row = [
            e.connected,
            e.published,
            e.delivered,
            e.lost,
            e.latency_us.p50,
            e.latency_us.p99,
            e.latency_us.max,
            e.requests,
            e.bytes_up,
            e.bytes_down,
            e.errors,
        ];
        out.push_str(&e.t_s.to_string());
        for v in row {
            out.push(',');
            out.push_str(&v.to_string());
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_header_and_one_row_per_second() {
        let t = [
            TimelineEntry {
                t_s: -1,
                connected: 3,
                requests: 3,
                ..TimelineEntry::default()
            },
            TimelineEntry {
                t_s: 0,
                connected: 3,
                published: 10,
                delivered: 29,
                lost: 1,
                latency_us: TimelineLatency {
                    p50: 120,
                    p99: 900,
                    max: 950,
                },
                requests: 0,
                bytes_up: 5,
                bytes_down: 4000,
                errors: 2,
            },
        ];
        let csv = to_csv(&t);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[1], "-1,3,0,0,0,0,0,0,3,0,0,0");
        assert_eq!(lines[2], "0,3,10,29,1,120,900,950,0,5,4000,2");
        assert_eq!(lines.len(), 3);
        assert_eq!(
            CSV_HEADER.split(',').count(),
            lines[2].split(',').count(),
            "every row fills every column"
        );
    }
}
