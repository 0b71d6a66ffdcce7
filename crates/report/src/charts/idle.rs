//! Chart 5: what a connected subscriber costs per hour while nothing is
//! published: requests and bytes, from the idle window measured before
//! publishing (`idle.*_per_subscriber_minute` × 60).

use super::{bars_linear, color, render, titled, Bar, Chart};
use crate::{fmt, ReportError, RunResult};

/// The chart's id.
pub const ID: &str = "idle";

/// Requests one idle subscriber sends per hour (`None`: not measured).
pub fn requests_per_hour(r: &RunResult) -> Option<f64> {
    r.idle.requests_per_subscriber_minute.map(|m| m * 60.0)
}

/// Bytes one idle subscriber's socket moves per hour (`None`: not measured).
pub fn bytes_per_hour(r: &RunResult) -> Option<f64> {
    r.idle.bytes_per_subscriber_minute.map(|m| m * 60.0)
}

/// Draws the chart for runs of one workload.
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let title = "Idle cost per subscriber-hour (connected, nothing published)".to_string();
    let bars = |value: fn(&RunResult) -> Option<f64>, label: fn(f64) -> String| -> Vec<Bar> {
        runs.iter()
            .enumerate()
            .map(|(i, r)| Bar {
                name: r.transport.clone(),
                parts: vec![(value(r).unwrap_or(0.0), color(&r.transport, i))],
                label: value(r).map_or_else(|| "not measured".into(), label),
            })
            .collect()
    };
    let request_bars = bars(requests_per_hour, fmt::sig3);
    let byte_bars = bars(bytes_per_hour, fmt::bytes);
    let svg = render(ID, &title, |root| {
        let body = titled(root, ID, &title)?;
        let (left, right) = body.split_horizontally(super::SIZE.0 / 2);
        bars_linear(
            &left,
            ID,
            "Requests per subscriber-hour",
            "requests",
            &request_bars,
            &fmt::axis,
            &[],
        )?;
        bars_linear(
            &right,
            ID,
            "Bytes per subscriber-hour",
            "bytes",
            &byte_bars,
            &fmt::bytes,
            &[],
        )
    })?;
    Ok(Chart {
        id: ID,
        title,
        reading: reading(runs),
        svg,
    })
}

/// `With every subscriber connected and nothing published, one
/// subscriber-hour costs short-poll 3,600 requests and 63.3 MB, …`.
pub fn reading(runs: &[RunResult]) -> String {
    let measured: Vec<&RunResult> = runs
        .iter()
        .filter(|r| r.idle.window_s > 0.0 && requests_per_hour(r).is_some())
        .collect();
    if measured.is_empty() {
        return "The idle cost was not measured in these runs (they ran with --idle 0).".into();
    }
    let mut sorted = measured.clone();
    sorted.sort_by(|a, b| {
        bytes_per_hour(b)
            .unwrap_or(0.0)
            .total_cmp(&bytes_per_hour(a).unwrap_or(0.0))
    });
    let parts: Vec<String> = sorted
        .iter()
        .map(|r| {
            format!(
                "{} {} requests and {}",
                r.transport,
                fmt::opt(requests_per_hour(r)),
                fmt::bytes(bytes_per_hour(r).unwrap_or(0.0))
            )
        })
        .collect();
    let window = measured.iter().map(|r| r.idle.window_s).fold(0.0, f64::max);
    let mut s = format!(
        "With every subscriber connected and nothing published, one subscriber-hour costs {} \
         (measured over {} s and scaled to an hour)",
        fmt::and_list(&parts),
        fmt::sig3(window)
    );
    let held: Vec<String> = measured
        .iter()
        .filter(|r| r.long_poll_wait_s.is_some_and(|w| w > r.idle.window_s))
        .map(|r| {
            format!(
                "{}'s {} s hold is longer than that window, so the window undercounts its idle \
                 polls (one per hold is about {} per subscriber-hour)",
                r.transport,
                fmt::sig3(r.long_poll_wait_s.unwrap_or(0.0)),
                fmt::sig3(3600.0 / r.long_poll_wait_s.unwrap_or(1.0))
            )
        })
        .collect();
    if !held.is_empty() {
        s.push_str("; ");
        s.push_str(&fmt::and_list(&held));
    }
    s.push('.');
    s
}
