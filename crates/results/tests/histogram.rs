//! The latency histogram codec: what a run writes decodes to what it
//! recorded, and histograms written before this crate existed decode and
//! re-encode to the same text.

use pushpoll_results::histogram::{
    decode_histogram, encode_histogram, latency_summary, new_histogram, MAX_LATENCY_US,
};
use pushpoll_results::LatencySummary;

use crate::{fixtures, parse};

#[test]
fn encode_then_decode_gives_the_same_histogram() {
    let mut h = new_histogram();
    for v in [1, 80, 95, 120, 5_000, 1_000_000] {
        h.record(v).unwrap();
    }
    let back = decode_histogram(&encode_histogram(&h).unwrap()).unwrap();
    assert_eq!(back, h);
    assert_eq!(latency_summary(&back), latency_summary(&h));
    assert_eq!(latency_summary(&h).count, 6);
    assert_eq!(latency_summary(&h).min, 1);
}

#[test]
fn an_empty_histogram_summarises_to_zeros() {
    assert_eq!(latency_summary(&new_histogram()), LatencySummary::default());
}

#[test]
fn latencies_past_an_hour_saturate() {
    let mut h = new_histogram();
    h.saturating_record(MAX_LATENCY_US * 10);
    assert_eq!(h.len(), 1);
    assert!(h.max() >= MAX_LATENCY_US);
}

#[test]
fn written_histograms_decode_to_their_summary_and_encode_back_unchanged() {
    let mut checked = 0;
    for (name, text) in fixtures() {
        for run in parse(text).runs {
            if run.latency_histogram.is_empty() {
                continue;
            }
            let h = decode_histogram(&run.latency_histogram).unwrap();
            let what = format!("{name} {}", run.transport);
            let summary = latency_summary(&h);
            // The mean is a float sum over buckets: equal to the last bits.
            let mean_error = (summary.mean - run.latency_us.mean).abs() / run.latency_us.mean;
            assert!(mean_error < 1e-12, "{what}: {summary:?}");
            let without_mean = |s: LatencySummary| LatencySummary { mean: 0.0, ..s };
            assert_eq!(
                without_mean(summary),
                without_mean(run.latency_us),
                "{what}"
            );
            assert_eq!(
                encode_histogram(&h).unwrap(),
                run.latency_histogram,
                "{what}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 9);
}

#[test]
fn bad_input_is_named() {
    let e = decode_histogram("not base64!").unwrap_err();
    assert!(e.to_string().starts_with("not base64: "), "{e}");
    let e = decode_histogram("AAAA").unwrap_err();
    assert!(e.to_string().starts_with("not an HdrHistogram: "), "{e}");
}
