//! `report --merge` is exact: samples split over several agents' results
//! and merged give what one run over all the samples gives.

use pushpoll_report::merge::{merge, MergeError};
use pushpoll_report::RunResult;
use pushpoll_results::histogram::{
    decode_histogram, encode_histogram, latency_summary, new_histogram,
};

use crate::util::{quick, run};

/// Deterministic latencies, µs: a wide spread with a long tail.
fn samples(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let base = 200 + x % 5_000;
            if x % 97 == 0 {
                base * 400
            } else {
                base
            }
        })
        .collect()
}

/// An agent's result carrying `latencies` (and counts that follow from them).
fn agent(i: usize, latencies: &[u64], template: &RunResult) -> RunResult {
    let mut h = new_histogram();
    for &v in latencies {
        h.record(v).unwrap();
    }
    let n = latencies.len() as u64;
    RunResult {
        run_id: format!("{:08x}", 0x5eed_0000 + i),
        subscribers: 10,
        subscribers_connected: 10,
        published: n / 10,
        expected_deliveries: n + i as u64,
        delivered: n,
        lost: i as u64,
        duplicated: 1,
        reordered: 0,
        other_run_markers: 7,
        latency_us: latency_summary(&h),
        latency_histogram: encode_histogram(&h).unwrap(),
        requests: 10,
        bytes_up: 100 * (i as u64 + 1),
        bytes_down: 1_000 * n,
        active_s: 2.0 + i as f64,
        server_cpu_s: Some(1.0 + i as f64),
        errors: [("reset".to_string(), i as u64 + 1)].into_iter().collect(),
        ..template.clone()
    }
}

#[test]
fn merged_percentiles_equal_one_histogram_over_every_sample() {
    let template = run(&quick(), "ws").clone();
    let all = samples(20_000);
    // Uneven parts, so no agent is like another.
    let cuts = [0, 1_000, 8_500, 9_000, 20_000];
    let agents: Vec<RunResult> = cuts
        .windows(2)
        .enumerate()
        .map(|(i, w)| agent(i, &all[w[0]..w[1]], &template))
        .collect();
    let merged = merge(&agents).unwrap();

    let mut one = new_histogram();
    for &v in &all {
        one.record(v).unwrap();
    }
    let want = latency_summary(&one);
    assert_eq!(merged.latency_us.count, all.len() as u64);
    for (name, got, exp) in [
        ("min", merged.latency_us.min, want.min),
        ("p50", merged.latency_us.p50, want.p50),
        ("p90", merged.latency_us.p90, want.p90),
        ("p99", merged.latency_us.p99, want.p99),
        ("p999", merged.latency_us.p999, want.p999),
        ("max", merged.latency_us.max, want.max),
    ] {
        assert_eq!(got, exp, "{name}");
    }
    assert_eq!(merged.latency_us.mean, want.mean);
    // The merged histogram travels on, as exact as the parts.
    let back = decode_histogram(&merged.latency_histogram).unwrap();
    assert_eq!(latency_summary(&back), want);

    // Counts are sums; ratios come from the sums.
    assert_eq!(merged.delivered, 20_000);
    assert_eq!(merged.expected_deliveries, 20_000 + 6);
    assert_eq!(merged.lost, 6);
    assert_eq!(merged.duplicated, 4);
    assert_eq!(merged.other_run_markers, 28);
    assert_eq!(merged.subscribers_connected, 40);
    assert_eq!(merged.requests, 40);
    assert_eq!(merged.errors["reset"], 1 + 2 + 3 + 4);
    assert_eq!(merged.requests_per_delivered, Some(40.0 / 20_000.0));
    let bytes = (100 + 200 + 300 + 400) as f64 + 1_000.0 * 20_000.0;
    assert_eq!(merged.bytes_per_delivered, Some(bytes / 20_000.0));
    assert_eq!(merged.active_s, 5.0);
    // One server read over overlapping windows: the largest reading.
    assert_eq!(merged.server_cpu_s, Some(4.0));
    assert_eq!(
        merged.run_id, "5eed0000,5eed0001,5eed0002,5eed0003",
        "every agent's run id"
    );
    assert_eq!(merged.transport, "ws");

    // Merging one result changes nothing that matters.
    let alone = merge(&agents[..1]).unwrap();
    assert_eq!(alone.latency_us, agents[0].latency_us);
    assert_eq!(alone.delivered, agents[0].delivered);
}

#[test]
fn refuses_what_cannot_be_merged_exactly() {
    let input = quick();
    let ws = run(&input, "ws").clone();
    let sse = run(&input, "sse").clone();
    assert!(matches!(merge(&[]), Err(MergeError::Empty)));
    let e = merge(&[ws.clone(), sse]).unwrap_err().to_string();
    assert!(e.contains("transport"), "{e}");
    // Two agents with one run id counted each other's messages.
    let e = merge(&[ws.clone(), ws.clone()]).unwrap_err().to_string();
    assert!(e.contains("share run id") && e.contains("--run-id"), "{e}");
    let mut broken = ws.clone();
    broken.run_id = "00000001".into();
    broken.latency_histogram = "not base64!".into();
    let e = merge(&[ws, broken]).unwrap_err().to_string();
    assert!(e.contains("latency_histogram"), "{e}");
}
