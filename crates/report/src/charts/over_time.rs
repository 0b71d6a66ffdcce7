//! Charts over time, from each run's `timeline` (one entry per second,
//! `t_s` from its first publish): what a soak or a staged ramp did second by
//! second, which the totals cannot show.
//!
//! - `deliveries-over-time`: deliveries per second, p99 latency per second
//!   and connected subscribers, three panels on one time axis.
//!
//! Requests per second per run are `timeline.svg` ([`super::timeline`]).
//!
//! Runs without a timeline (documents older than it) are left out; with
//! none at all, there is no chart.

use plotters::prelude::*;

use super::{color, draw_error, legend_panel, render_sized, titled, Chart, Key};
use crate::{fmt, ReportError, RunResult};
use pushpoll_results::TimelineEntry;

const DELIVERIES_ID: &str = "deliveries-over-time";
const DELIVERIES_TITLE: &str = "Deliveries, p99 latency and connected subscribers per second";

fn name(r: &RunResult) -> String {
    match &r.label {
        Some(l) => format!("{} ({l})", r.transport),
        None => r.transport.clone(),
    }
}

/// One line per run: (legend, colour, points).
type Series = (String, RGBColor, Vec<(f64, f64)>);

fn series(runs: &[RunResult], value: impl Fn(&TimelineEntry) -> f64) -> Vec<Series> {
    runs.iter()
        .enumerate()
        .filter(|(_, r)| !r.timeline.is_empty())
        .map(|(i, r)| {
            let points = r
                .timeline
                .iter()
                .map(|e| (e.t_s as f64, value(e)))
                .collect();
            (name(r), color(&r.transport, i), points)
        })
        .collect()
}

fn x_range(lines: &[Series]) -> std::ops::Range<f64> {
    let xs = || lines.iter().flat_map(|l| l.2.iter().map(|p| p.0));
    let lo = xs().fold(f64::INFINITY, f64::min);
    let hi = xs().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi > lo {
        lo..hi + 1.0
    } else {
        0.0..1.0
    }
}

fn y_max(lines: &[Series]) -> f64 {
    let m = lines
        .iter()
        .flat_map(|l| l.2.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    if m > 0.0 {
        m * 1.1
    } else {
        1.0
    }
}

/// One panel: a line per run over `x`, the y axis described by `y_desc`.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    id: &'static str,
    lines: &[Series],
    x: std::ops::Range<f64>,
    y_desc: &str,
    x_desc: Option<&str>,
) -> Result<(), ReportError> {
    let err = draw_error(id);
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .margin_right(24)
        .x_label_area_size(if x_desc.is_some() { 36 } else { 18 })
        .y_label_area_size(70)
        .build_cartesian_2d(x, 0.0..y_max(lines))
        .map_err(&err)?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(y_desc)
        .x_label_formatter(&|x| fmt::axis(*x))
        .y_label_formatter(&|y| fmt::axis(*y))
        .y_labels(4)
        .label_style(("sans-serif", 12));
    if let Some(d) = x_desc {
        mesh.x_desc(d);
    }
    mesh.draw().map_err(&err)?;
    for (_, c, points) in lines {
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(&err)?;
    }
    Ok(())
}

fn legend(lines: &[Series]) -> Vec<(String, RGBColor, Key)> {
    lines
        .iter()
        .map(|(n, c, _)| (n.clone(), *c, Key::Line(2)))
        .collect()
}

/// Draws deliveries, p99 and connected subscribers per second; `None` when
/// no run has a timeline.
pub fn deliveries(runs: &[RunResult]) -> Result<Option<Chart>, ReportError> {
    let delivered = series(runs, |e| e.delivered as f64);
    if delivered.is_empty() {
        return Ok(None);
    }
    let p99 = series(runs, |e| e.latency_us.p99 as f64 / 1000.0);
    let connected = series(runs, |e| e.connected as f64);
    let x = x_range(&delivered);
    let entries = legend(&delivered);
    let legend_height = 20 + 18 * entries.len().div_ceil(3) as u32;
    let size = (super::SIZE.0, 560 + legend_height);
    let svg = render_sized(DELIVERIES_ID, DELIVERIES_TITLE, size, |root| {
        let body = titled(root, DELIVERIES_ID, DELIVERIES_TITLE)?;
        let (plots, below) = body.split_vertically(520);
        let panels = plots.split_evenly((3, 1));
        panel(
            &panels[0],
            DELIVERIES_ID,
            &delivered,
            x.clone(),
            "deliveries/s",
            None,
        )?;
        panel(&panels[1], DELIVERIES_ID, &p99, x.clone(), "p99 (ms)", None)?;
        panel(
            &panels[2],
            DELIVERIES_ID,
            &connected,
            x.clone(),
            "connected",
            Some("seconds from the first publish"),
        )?;
        legend_panel(&below, DELIVERIES_ID, &entries)
    })?;
    Ok(Some(Chart {
        id: DELIVERIES_ID,
        title: DELIVERIES_TITLE.to_string(),
        reading: deliveries_reading(runs),
        svg,
    }))
}

/// "ws: p99 per second from 1.20 to 3.40 ms over 10 s of publishing; …":
/// each run's spread of per-second p99 while it published.
pub fn deliveries_reading(runs: &[RunResult]) -> String {
    let parts: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let busy: Vec<&TimelineEntry> =
                r.timeline.iter().filter(|e| e.delivered > 0).collect();
            let lo = busy.iter().map(|e| e.latency_us.p99).min()?;
            let hi = busy.iter().map(|e| e.latency_us.p99).max()?;
            let worst = busy.iter().max_by_key(|e| e.latency_us.p99)?;
            Some(format!(
                "{}: p99 per second from {} to {} ms (worst at t = {} s) over {} seconds with deliveries",
                name(r),
                fmt::sig3(lo as f64 / 1000.0),
                fmt::sig3(hi as f64 / 1000.0),
                worst.t_s,
                busy.len()
            ))
        })
        .collect();
    if parts.is_empty() {
        "No run delivered anything.".to_string()
    } else {
        parts.join("; ") + "."
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(transport: &str, requests: u64) -> RunResult {
        let base: RunResult = serde_json::from_str(include_str!(
            "../../../results/tests/fixtures/ws-deflate.json"
        ))
        .map(|d: pushpoll_results::Document| d.runs[0].clone())
        .unwrap();
        RunResult {
            transport: transport.into(),
            label: None,
            timeline: (-2..5)
                .map(|t| TimelineEntry {
                    t_s: t,
                    connected: 10,
                    published: u64::from(t >= 0),
                    delivered: if t >= 0 { 10 } else { 0 },
                    requests,
                    latency_us: pushpoll_results::TimelineLatency {
                        p50: 1000,
                        p99: 2000 + 100 * t.max(0) as u64,
                        max: 3000,
                    },
                    ..TimelineEntry::default()
                })
                .collect(),
            ..base
        }
    }

    #[test]
    fn timelines_draw_and_read_out() {
        let runs = [run("ws", 0), run("short-poll", 10)];
        let d = deliveries(&runs).unwrap().unwrap();
        assert!(d.svg.contains("chart-deliveries-over-time"));
        assert!(
            d.reading
                .contains("ws: p99 per second from 2.00 to 2.40 ms (worst at t = 4 s)"),
            "{}",
            d.reading
        );
        let r = super::super::timeline::from_runs(&runs).unwrap().unwrap();
        assert!(
            r.svg.contains("chart-timeline"),
            "requests per second: timeline.svg"
        );
    }

    #[test]
    fn without_timelines_there_is_no_chart() {
        let runs = [RunResult {
            timeline: Vec::new(),
            ..run("ws", 0)
        }];
        assert!(deliveries(&runs).unwrap().is_none());
        assert!(super::super::timeline::from_runs(&runs).unwrap().is_none());
    }
}
