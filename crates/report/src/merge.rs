//! `pushpoll report --merge`: several load agents' results (one per machine
//! or pod, all against the same server) combined into one result, exactly.
//!
//! Each agent publishes its own messages under its own run id and measures
//! only those: latency is a receive time minus a scheduled time taken on the
//! *same* machine's clock, never across machines, and other agents'
//! messages are counted apart (`other_run_markers`) and ignored. So the
//! agents' results are independent, and merging them is arithmetic:
//! - counts (subscribers, published, expected, delivered, lost, duplicated,
//!   reordered, requests, bytes, errors by kind) are summed;
//! - latency histograms (HdrHistogram, serialised in every result) are
//!   added, so merged percentiles, min, max and mean are those of one
//!   histogram over every agent's samples;
//! - ratios are recomputed from the sums (per-second figures weighted by
//!   each agent's subscriber-seconds);
//! - timelines are added second by second (`t_s` from each agent's own
//!   first publish); a second's p50/p99 is the largest agent's (an upper
//!   bound: percentiles do not add);
//! - the server's CPU, when agents read it, covers overlapping windows of one
//!   server: the merged figure is the largest single reading.

use std::collections::BTreeMap;

use pushpoll_results::histogram::{
    decode_histogram, encode_histogram, latency_summary, new_histogram,
};
use pushpoll_results::{IdleCost, RunResult, SenderCost};

/// Why results cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error(
        "no runs to merge: give the results files the load agents wrote (`pushpoll load --json`)"
    )]
    Empty,
    /// Runs of different transports measure different things.
    #[error("run {index} used transport {found}, run 0 used {expected}: merge runs of one transport at a time")]
    Transport {
        /// The offending run (0-based, in input order).
        index: usize,
        /// Run 0's transport.
        expected: String,
        /// This run's transport.
        found: String,
    },
    /// Two agents shared a run id, so each counted the other's messages as its own.
    #[error("runs {first} and {second} share run id {run_id}: each counted the other's messages as its own, so neither is exact; give every agent its own --run-id (e.g. from JOB_COMPLETION_INDEX)")]
    SharedRunId {
        /// The run id.
        run_id: String,
        /// One run (0-based).
        first: usize,
        /// The other.
        second: usize,
    },
    /// A run's latency histogram could not be decoded.
    #[error("run {index} (run id {run_id}): latency_histogram: {reason}")]
    Histogram {
        /// The run (0-based).
        index: usize,
        /// Its run id.
        run_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// `a / b`, or `None` when `b` is zero.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// Combines agents' results into one. See the module documentation.
pub fn merge(runs: &[RunResult]) -> Result<RunResult, MergeError> {
    let first = runs.first().ok_or(MergeError::Empty)?;
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        if r.transport != first.transport {
            return Err(MergeError::Transport {
                index: i,
                expected: first.transport.clone(),
                found: r.transport.clone(),
            });
        }
        if let Some(&j) = seen.get(r.run_id.as_str()) {
            return Err(MergeError::SharedRunId {
                run_id: r.run_id.clone(),
                first: j,
                second: i,
            });
        }
        seen.insert(&r.run_id, i);
    }

    let mut histogram = new_histogram();
    for (i, r) in runs.iter().enumerate() {
        let bad = |reason: String| MergeError::Histogram {
            index: i,
            run_id: r.run_id.clone(),
            reason,
        };
        if r.latency_histogram.is_empty() {
            if r.latency_us.count > 0 {
                return Err(bad("missing, yet the run recorded latencies".into()));
            }
            continue;
        }
        let h = decode_histogram(&r.latency_histogram).map_err(|e| bad(e.to_string()))?;
        histogram
            .add(&h)
            .map_err(|e| bad(format!("does not merge: {e:?}")))?;
    }

    let sum = |f: fn(&RunResult) -> u64| runs.iter().map(f).sum::<u64>();
    let delivered = sum(|r| r.delivered);
    let d = delivered as f64;
    let bytes_up = sum(|r| r.bytes_up);
    let bytes_down = sum(|r| r.bytes_down);
    let requests = sum(|r| r.requests);
    // Per-second figures: each agent's over its own subscriber-seconds.
    let sub_seconds: f64 = runs
        .iter()
        .map(|r| r.subscribers_connected as f64 * r.active_s)
        .sum();
    let weighted = |f: fn(&RunResult) -> Option<f64>| -> Option<f64> {
        let total: f64 = runs
            .iter()
            .map(|r| f(r).unwrap_or(0.0) * r.subscribers_connected as f64 * r.active_s)
            .sum();
        ratio(total, sub_seconds)
    };
    let payload_total: f64 = runs
        .iter()
        .map(|r| r.payload_bytes_per_delivered.unwrap_or(0.0) * r.delivered as f64)
        .sum();
    let server_cpu_s = runs
        .iter()
        .map(|r| r.server_cpu_s)
        .collect::<Option<Vec<f64>>>()
        .and_then(|v| v.into_iter().reduce(f64::max));
    let idle_minutes: f64 = runs
        .iter()
        .map(|r| r.subscribers_connected as f64 * r.idle.window_s / 60.0)
        .sum();
    let idle_requests = runs.iter().map(|r| r.idle.requests).sum::<u64>();
    let idle_bytes = runs.iter().map(|r| r.idle.bytes).sum::<u64>();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in runs {
        for (k, n) in &r.errors {
            *errors.entry(k.clone()).or_default() += n;
        }
    }
    let same = |f: fn(&RunResult) -> &str| runs.iter().all(|r| f(r) == f(first));
    let max = |f: fn(&RunResult) -> f64| runs.iter().map(f).fold(0.0, f64::max);
    let label = if runs.len() == 1 {
        first.label.clone()
    } else {
        let agents = format!("{} agents", runs.len());
        match &first.label {
            Some(l) if runs.iter().all(|r| r.label.as_ref() == Some(l)) => {
                Some(format!("{l} ({agents})"))
            }
            _ => Some(format!("merged, {agents}")),
        }
    };
    Ok(RunResult {
        transport: first.transport.clone(),
        url: if same(|r| &r.url) {
            first.url.clone()
        } else {
            let mut urls: Vec<&str> = runs.iter().map(|r| r.url.as_str()).collect();
            urls.dedup();
            urls.join(" ")
        },
        run_id: runs
            .iter()
            .map(|r| r.run_id.as_str())
            .collect::<Vec<_>>()
            .join(","),
        subscribers: sum(|r| r.subscribers),
        subscribers_connected: sum(|r| r.subscribers_connected),
        publishers: sum(|r| r.publishers),
        publish_rate: runs.iter().map(|r| r.publish_rate).sum(),
        duration_s: max(|r| r.duration_s),
        active_s: max(|r| r.active_s),
        payload_bytes: runs.iter().map(|r| r.payload_bytes).max().unwrap_or(0),
        published: sum(|r| r.published),
        publish_errors: sum(|r| r.publish_errors),
        planned_deliveries: sum(RunResult::planned),
        unsent: sum(|r| r.unsent),
        expected_deliveries: sum(|r| r.expected_deliveries),
        delivered,
        lost: sum(|r| r.lost),
        duplicated: sum(|r| r.duplicated),
        reordered: sum(|r| r.reordered),
        unexpected: sum(|r| r.unexpected),
        other_run_markers: sum(|r| r.other_run_markers),
        unmarked_frames: sum(|r| r.unmarked_frames),
        latency_us: latency_summary(&histogram),
        // Fails only on a count past i64::MAX; an empty histogram beside a
        // non-zero count is then refused by any later merge.
        latency_histogram: encode_histogram(&histogram).unwrap_or_default(),
        requests,
        empty_polls: sum(|r| r.empty_polls),
        requests_per_delivered: ratio(requests as f64, d),
        bytes_up,
        bytes_down,
        bytes_per_delivered: ratio((bytes_up + bytes_down) as f64, d),
        payload_bytes_per_delivered: ratio(payload_total, d),
        bytes_per_subscriber_second: weighted(|r| r.bytes_per_subscriber_second),
        overhead_bytes_per_subscriber_second: weighted(|r| r.overhead_bytes_per_subscriber_second),
        server_cpu_s,
        server_cpu_us_per_delivered: server_cpu_s.and_then(|c| ratio(c * 1e6, d)),
        generator_cpu_s: generator_cpu_s(runs),
        generator_cpu_us_per_delivered: generator_cpu_s(runs).and_then(|c| ratio(c * 1e6, d)),
        total_cpu_us_per_delivered: server_cpu_s
            .zip(generator_cpu_s(runs))
            .and_then(|(s, g)| ratio((s + g) * 1e6, d)),
        // Per-agent byte breakdowns are not merged.
        wire: None,
        sender: sender_cost(runs),
        idle: IdleCost {
            window_s: max(|r| r.idle.window_s),
            requests: idle_requests,
            bytes: idle_bytes,
            requests_per_subscriber_minute: ratio(idle_requests as f64, idle_minutes),
            bytes_per_subscriber_minute: ratio(idle_bytes as f64, idle_minutes),
        },
        errors,
        label,
        timeline: merge_timelines(runs),
        // Fields added later (and those all agents share) come from run 0.
        ..first.clone()
    })
}

/// The agents' timelines second by second (each agent's `t_s` counts from
/// its own first publish): counts add up; `max` is the largest agent's;
/// `p50` and `p99` cannot be recombined from percentiles, so the merged
/// second shows the largest agent's, an upper bound.
fn merge_timelines(runs: &[RunResult]) -> Vec<pushpoll_results::TimelineEntry> {
    let mut by_second: BTreeMap<i64, pushpoll_results::TimelineEntry> = BTreeMap::new();
    for e in runs.iter().flat_map(|r| &r.timeline) {
        let m = by_second.entry(e.t_s).or_default();
        m.t_s = e.t_s;
        m.connected += e.connected;
        m.published += e.published;
        m.delivered += e.delivered;
        m.lost += e.lost;
        m.requests += e.requests;
        m.bytes_up += e.bytes_up;
        m.bytes_down += e.bytes_down;
        m.errors += e.errors;
        m.latency_us.p50 = m.latency_us.p50.max(e.latency_us.p50);
        m.latency_us.p99 = m.latency_us.p99.max(e.latency_us.p99);
        m.latency_us.max = m.latency_us.max.max(e.latency_us.max);
    }
    by_second.into_values().collect()
}

/// Every agent's publishers together, per message they sent (null when
/// any agent did not count them).
fn sender_cost(runs: &[RunResult]) -> Option<SenderCost> {
    let all: Vec<SenderCost> = runs.iter().map(|r| r.sender).collect::<Option<_>>()?;
    let published = runs.iter().map(|r| r.published).sum::<u64>() as f64;
    let up = all.iter().map(|s| s.bytes_up).sum::<u64>();
    let down = all.iter().map(|s| s.bytes_down).sum::<u64>();
    let requests = all.iter().map(|s| s.requests).sum::<u64>();
    Some(SenderCost {
        bytes_up: up,
        bytes_down: down,
        requests,
        bytes_up_per_sent: ratio(up as f64, published),
        bytes_down_per_sent: ratio(down as f64, published),
        requests_per_sent: ratio(requests as f64, published),
    })
}

/// Every agent's generator CPU together (null when any is unknown).
fn generator_cpu_s(runs: &[RunResult]) -> Option<f64> {
    runs.iter().map(|r| r.generator_cpu_s).sum()
}
