//! Chart 2: HTTP requests per delivered message per transport, on a log
//! scale (push needs one request per connection, polling one per poll).

use super::{bars_log, baseline, color, render, workload_phrase, Bar, Chart};
use crate::{fmt, ReportError, RunResult};

/// The chart's id.
pub const ID: &str = "requests";

/// Draws the chart for runs of one workload.
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let title = format!(
        "HTTP requests per delivered message ({})",
        workload_phrase(runs)
    );
    let bars: Vec<Bar> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Bar {
            name: r.transport.clone(),
            parts: vec![(
                r.requests_per_delivered.unwrap_or(0.0),
                color(&r.transport, i),
            )],
            label: fmt::opt(r.requests_per_delivered),
        })
        .collect();
    let svg = render(ID, &title, |root| {
        bars_log(
            root,
            ID,
            &title,
            "requests per delivered message (log)",
            &bars,
        )
    })?;
    Ok(Chart {
        id: ID,
        title,
        reading: reading(runs),
        svg,
    })
}

/// `Per delivered message with …, long-poll sends 42.0× the HTTP requests of
/// ws, …`, most first.
pub fn reading(runs: &[RunResult]) -> String {
    let value = |r: &RunResult| r.requests_per_delivered;
    let Some(base) = baseline(runs, value) else {
        return "No run delivered a message, so requests per delivered message are unknown.".into();
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
            let verb = if i == 0 { " sends" } else { "" };
            let tail = if i == 0 { " as many" } else { "" };
            format!("{}{verb} {}{tail}", r.transport, fmt::times(Some(*ratio)))
        })
        .collect();
    let head = format!(
        "Per delivered message with {}, {} needs {} HTTP requests",
        workload_phrase(runs),
        base.transport,
        fmt::sig3(base_value)
    );
    if parts.is_empty() {
        format!("{head}.")
    } else {
        format!("{head}; {}.", fmt::and_list(&parts))
    }
}
