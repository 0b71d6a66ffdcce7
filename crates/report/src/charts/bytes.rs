//! Chart 3: bytes per delivered message per transport, split into the
//! payload itself and everything else (headers, framing, handshakes, pings,
//! empty polls).

use plotters::style::RGBColor;

use super::{bars_linear, baseline, render, workload_phrase, Bar, Chart};
use crate::{fmt, ReportError, RunResult};

/// The chart's id.
pub const ID: &str = "bytes";

/// Colour of the payload part of a bar.
pub const PAYLOAD: RGBColor = RGBColor(70, 150, 140);
/// Colour of the overhead part of a bar.
pub const OVERHEAD: RGBColor = RGBColor(150, 150, 150);

/// Draws the chart for runs of one workload.
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let title = format!(
        "Bytes per delivered message: payload and overhead ({})",
        workload_phrase(runs)
    );
    let bars: Vec<Bar> = runs
        .iter()
        .map(|r| {
            let total = r.bytes_per_delivered.unwrap_or(0.0);
            let payload = r.payload_bytes_per_delivered.unwrap_or(0.0).min(total);
            Bar {
                name: r.transport.clone(),
                parts: vec![(payload, PAYLOAD), (total - payload, OVERHEAD)],
                label: r.bytes_per_delivered.map_or_else(|| "-".into(), fmt::bytes),
            }
        })
        .collect();
    let svg = render(ID, &title, |root| {
        bars_linear(
            root,
            ID,
            &title,
            "bytes per delivered message",
            &bars,
            &fmt::axis,
            &[("overhead", OVERHEAD), ("payload", PAYLOAD)],
        )
    })?;
    Ok(Chart {
        id: ID,
        title,
        reading: reading(runs),
        svg,
    })
}

/// Share of a run's bytes that was payload, as `86.4%`.
fn payload_share(r: &RunResult) -> String {
    fmt::percent(
        r.payload_bytes_per_delivered
            .zip(r.bytes_per_delivered)
            .and_then(|(p, b)| fmt::ratio(p, b)),
    )
}

/// `Per delivered message with …, long-poll moves 5.34× the bytes of ws
/// (396 B, 16.2% payload), …; ws moves 74.0 B, 86.4% payload.`
pub fn reading(runs: &[RunResult]) -> String {
    let value = |r: &RunResult| r.bytes_per_delivered;
    let Some(base) = baseline(runs, value) else {
        return "No run delivered a message, so bytes per delivered message are unknown.".into();
    };
    let base_value = value(base).unwrap_or(0.0);
    let mut others: Vec<(&RunResult, f64)> = runs
        .iter()
        .filter(|r| r.transport != base.transport)
        .filter_map(|r| Some((r, fmt::ratio(value(r)?, base_value)?)))
        .collect();
    others.sort_by(|a, b| b.1.total_cmp(&a.1));
    let parts: Vec<String> = others
        .iter()
        .enumerate()
        .map(|(i, (r, ratio))| {
            let (verb, what) = if i == 0 {
                (" moves", format!(" the bytes of {}", base.transport))
            } else {
                ("", String::new())
            };
            format!(
                "{}{verb} {}{what} ({}, {} payload)",
                r.transport,
                fmt::times(Some(*ratio)),
                fmt::bytes(value(r).unwrap_or(0.0)),
                payload_share(r)
            )
        })
        .collect();
    let base_part = format!(
        "{} moves {}, {} of it payload",
        base.transport,
        fmt::bytes(base_value),
        payload_share(base)
    );
    if parts.is_empty() {
        format!(
            "Per delivered message with {}, {base_part}.",
            workload_phrase(runs)
        )
    } else {
        format!(
            "Per delivered message with {}, {}; {base_part}.",
            workload_phrase(runs),
            fmt::and_list(&parts)
        )
    }
}
