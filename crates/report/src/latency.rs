//! Percentile curves from the latency histogram a run carries
//! (`latency_histogram`: HdrHistogram V2 + DEFLATE, base64).
//!
//! The x axis of such a curve is `1 / (1 − q)`, the "nines" scale HdrHistogram
//! plots use: 10 is p90, 100 is p99, 1,000 is p99.9, so the tail gets as much
//! room as the median.

use hdrhistogram::Histogram;
use pushpoll_results::histogram::decode_histogram;

use crate::RunResult;

/// Decodes a run's `latency_histogram`; `None` when it is empty or not a
/// histogram this reader understands.
pub fn decode(encoded: &str) -> Option<Histogram<u64>> {
    if encoded.is_empty() {
        return None;
    }
    decode_histogram(encoded.trim()).ok()
}

/// Where quantile `q` sits on the nines axis.
pub fn nines_x(q: f64) -> f64 {
    1.0 / (1.0 - q.min(1.0 - 1e-9))
}

/// The percentile a point of the nines axis stands for, as a label:
/// `1` → `0%`, `10` → `90%`, `1000` → `99.9%`.
pub fn nines_label(x: f64) -> String {
    let pct = 100.0 * (1.0 - 1.0 / x.max(1.0));
    let mut s = format!("{pct:.4}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    format!("{s}%")
}

/// The percentile summary of a run as points on the nines axis (x, µs):
/// p50, p90, p99, p99.9 (when the run recorded enough deliveries for it to
/// mean something) and the maximum, placed at `count` (`1 / (1 − q)` for
/// q = (count−1)/count, the last quantile the data can tell apart).
pub fn summary_points(r: &RunResult) -> Vec<(f64, f64)> {
    let l = &r.latency_us;
    if l.count == 0 {
        return Vec::new();
    }
    let n = l.count as f64;
    let mut out: Vec<(f64, f64)> = [
        (2.0, l.p50),
        (10.0, l.p90),
        (100.0, l.p99),
        (1000.0, l.p999),
    ]
    .into_iter()
    .filter(|&(x, _)| x < n)
    .map(|(x, v)| (x, v as f64))
    .collect();
    out.push((n.max(2.0), l.max as f64));
    out
}

/// The curve to draw for a run (x on the nines axis, latency in µs) and
/// whether it came from the full histogram (`true`) or only from the
/// summary percentiles. Empty when nothing was delivered.
pub fn curve(r: &RunResult) -> (Vec<(f64, f64)>, bool) {
    let Some(h) = decode(&r.latency_histogram).filter(|h| !h.is_empty()) else {
        return (summary_points(r), false);
    };
    let n = h.len() as f64;
    let end = n.max(2.0);
    // Twenty points per decade of the nines axis, up to the last quantile the
    // sample can tell apart, then the maximum itself.
    let steps = (end.log10() * 20.0).ceil() as u32;
    let mut points: Vec<(f64, f64)> = (0..steps)
        .map(|k| 10f64.powf(f64::from(k) / 20.0))
        .take_while(|&x| x < end)
        .map(|x| (x, h.value_at_quantile(1.0 - 1.0 / x) as f64))
        .collect();
    points.push((end, h.max() as f64));
    (points, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert_eq!(nines_label(1.0), "0%");
        assert_eq!(nines_label(10.0), "90%");
        assert_eq!(nines_label(1000.0), "99.9%");
        assert!((nines_x(0.99) - 100.0).abs() < 1e-6);
    }

    #[test]
    fn garbage_is_not_a_histogram() {
        assert!(decode("").is_none());
        assert!(decode("not base64!").is_none());
        assert!(decode("aGVsbG8=").is_none());
    }
}
