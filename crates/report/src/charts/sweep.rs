//! Chart 4: how requests and bytes per delivered message grow with the
//! number of subscribers, and with the publish rate. Drawn only when the
//! inputs hold a sweep: runs of one transport that differ in that figure
//! alone (`pushpoll compare --subscribers 10,100,1000`, or several
//! `pushpoll load` files).

use plotters::prelude::*;

use super::{
    color, draw_error, legend_panel, log_range, render_sized, titled, Chart, Key, Omitted,
};
use crate::{fmt, ReportError, RunResult};

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// The number of subscribers.
    Subscribers,
    /// Messages published per second.
    Rate,
}

impl Axis {
    /// The chart's id.
    pub fn id(self) -> &'static str {
        match self {
            Axis::Subscribers => "sweep-subscribers",
            Axis::Rate => "sweep-rate",
        }
    }

    /// The chart's title.
    pub fn title(self) -> String {
        match self {
            Axis::Subscribers => "Requests and bytes per delivered message as subscribers grow",
            Axis::Rate => "Requests and bytes per delivered message as the publish rate grows",
        }
        .to_string()
    }

    /// The swept figure of a run.
    pub fn x(self, r: &RunResult) -> f64 {
        match self {
            Axis::Subscribers => r.subscribers as f64,
            Axis::Rate => r.publish_rate,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Axis::Subscribers => "subscribers",
            Axis::Rate => "msg/s",
        }
    }

    fn value(self, x: f64) -> String {
        match self {
            Axis::Subscribers => fmt::thousands(x as u64),
            Axis::Rate => fmt::axis(x),
        }
    }
}

/// One line of a sweep chart: runs of one transport under one otherwise
/// fixed workload, in order of the swept figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The transport.
    pub transport: String,
    /// The legend: the transport, plus whatever else tells this line apart
    /// from other lines of the same transport.
    pub label: String,
    /// (swept figure, requests per delivered, bytes per delivered), sorted.
    pub points: Vec<(f64, Option<f64>, Option<f64>)>,
}

/// The figures of a run's workload other than the transport and the swept
/// one: a sweep's runs share them all. (name, rendering) pairs.
fn fixed(r: &RunResult, axis: Axis) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if axis != Axis::Subscribers {
        out.push((
            "subscribers",
            format!("{} subscribers", fmt::thousands(r.subscribers)),
        ));
    }
    if axis != Axis::Rate {
        out.push(("rate", format!("{} msg/s", fmt::sig3(r.publish_rate))));
    }
    out.push((
        "poll",
        r.poll_interval_s
            .map_or_else(String::new, |i| format!("poll every {} s", fmt::sig3(i))),
    ));
    out.push((
        "wait",
        r.long_poll_wait_s
            .map_or_else(String::new, |w| format!("wait {} s", fmt::sig3(w))),
    ));
    out.push(("payload", format!("{} B payloads", r.payload_bytes)));
    out.push(("duration", format!("{} s runs", fmt::sig3(r.duration_s))));
    out
}

/// The sweeps along `axis` in `runs`: one [`Series`] per transport and
/// fixed workload with at least two distinct values of the swept figure.
pub fn series(runs: &[RunResult], axis: Axis) -> Vec<Series> {
    type Key = (String, Vec<(&'static str, String)>);
    let mut groups: Vec<(Key, Vec<&RunResult>)> = Vec::new();
    for r in runs.iter().filter(|r| axis.x(r) > 0.0) {
        let key = (r.transport.clone(), fixed(r, axis));
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    groups.retain(|(_, members)| {
        let first = axis.x(members[0]);
        members.iter().any(|m| axis.x(m) != first)
    });
    groups
        .iter()
        .map(|((transport, params), members)| {
            // What differs between this transport's lines goes in the legend.
            let siblings: Vec<&Vec<(&'static str, String)>> = groups
                .iter()
                .filter(|((t, _), _)| t == transport)
                .map(|((_, p), _)| p)
                .collect();
            let distinct: Vec<String> = params
                .iter()
                .enumerate()
                .filter(|(i, (_, v))| !v.is_empty() && siblings.iter().any(|s| s[*i].1 != *v))
                .map(|(_, (_, v))| v.clone())
                .collect();
            let label = if distinct.is_empty() {
                transport.clone()
            } else {
                format!("{transport}, {}", distinct.join(", "))
            };
            let mut points: Vec<(f64, Option<f64>, Option<f64>)> = members
                .iter()
                .map(|r| (axis.x(r), r.requests_per_delivered, r.bytes_per_delivered))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                transport: transport.clone(),
                label,
                points,
            }
        })
        .collect()
}

/// What the report says in place of the chart when there is no sweep.
pub fn omitted(axis: Axis) -> Omitted {
    let (what, flag) = match axis {
        Axis::Subscribers => ("subscriber counts", "--subscribers 10,100,1000"),
        Axis::Rate => ("publish rates", "--rate 1,5,20"),
    };
    Omitted {
        id: axis.id(),
        title: axis.title(),
        reason: format!(
            "Not drawn: no transport was run at several {what} with everything else equal; \
             pushpoll compare {flag} --json FILE makes such a sweep."
        ),
    }
}

/// The chart, or `None` when the runs hold no sweep along `axis`.
pub fn chart(runs: &[RunResult], axis: Axis) -> Result<Option<Chart>, ReportError> {
    let lines = series(runs, axis);
    if lines.is_empty() {
        return Ok(None);
    }
    let id = axis.id();
    let title = axis.title();
    // The legend goes under both panels, three entries a row.
    let legend: Vec<(String, RGBColor, Key)> = lines
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let key = if nth_of_transport(&lines, i) == 0 {
                Key::Line(2)
            } else {
                Key::Dashed(2)
            };
            (s.label.clone(), color(&s.transport, i), key)
        })
        .collect();
    let legend_height = 20 + 18 * legend.len().div_ceil(3) as u32;
    let size = (super::SIZE.0, super::SIZE.1 + legend_height);
    let svg = render_sized(id, &title, size, |root| {
        let body = titled(root, id, &title)?;
        let (panels, below) = body.split_vertically(super::SIZE.1 - 30);
        let (left, right) = panels.split_horizontally(super::SIZE.0 / 2);
        panel(&left, axis, &lines, "Requests per delivered message", |p| {
            p.1
        })?;
        panel(&right, axis, &lines, "Bytes per delivered message", |p| p.2)?;
        legend_panel(&below, id, &legend)
    })?;
    Ok(Some(Chart {
        id,
        title,
        reading: reading(axis, &lines),
        svg,
    }))
}

type Point = (f64, Option<f64>, Option<f64>);

/// How many lines before `i` are of the same transport (the first is solid,
/// the others dashed).
fn nth_of_transport(lines: &[Series], i: usize) -> usize {
    lines[..i]
        .iter()
        .filter(|o| o.transport == lines[i].transport)
        .count()
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    axis: Axis,
    lines: &[Series],
    caption: &str,
    value: fn(&Point) -> Option<f64>,
) -> Result<(), ReportError> {
    let id = axis.id();
    let err = draw_error(id);
    let mut xs: Vec<f64> = lines
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let (x_lo, x_hi) = (xs[0], xs[xs.len() - 1]);
    let y_range = log_range(lines.iter().flat_map(|s| s.points.iter().filter_map(value)));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            // Ticks at the swept values themselves: a log axis spanning less
            // than a decade would otherwise have none.
            (x_lo / 1.2..x_hi * 1.2).log_scale().with_key_points(xs),
            y_range.log_scale(),
        )
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc(format!("{} (log)", axis.unit()))
        .y_desc("per delivered message (log)")
        .x_label_formatter(&|x| axis.value(*x))
        .y_label_formatter(&|y| fmt::axis(*y))
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(&err)?;
    for (i, s) in lines.iter().enumerate() {
        let c = color(&s.transport, i);
        let nth = nth_of_transport(lines, i);
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|p| Some((p.0, value(p)?)))
            .filter(|p| p.1 > 0.0)
            .collect();
        if nth == 0 {
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
                .map_err(&err)?;
        } else {
            chart
                .draw_series(DashedLineSeries::new(
                    points.clone(),
                    5,
                    3,
                    c.stroke_width(2),
                ))
                .map_err(&err)?;
        }
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(&err)?;
    }
    Ok(())
}

/// `From 10 to 40 subscribers, per delivered message: ws requests 0.333 →
/// 0.333 (1.00×) and bytes 173 → 173 (1.00×); …`. A transport with several
/// lines (other rates, poll intervals…) gets the range of its changes.
pub fn reading(axis: Axis, lines: &[Series]) -> String {
    let (lo, hi) = lines
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
    // (first, last) of one figure of one line.
    let ends = |s: &Series, value: fn(&Point) -> Option<f64>| {
        let first = s.points.first().and_then(value)?;
        let last = s.points.last().and_then(value)?;
        Some((first, last, fmt::ratio(last, first)?))
    };
    let mut transports: Vec<&str> = Vec::new();
    for s in lines {
        if !transports.contains(&s.transport.as_str()) {
            transports.push(&s.transport);
        }
    }
    let parts: Vec<String> = transports
        .iter()
        .map(|t| {
            let mine: Vec<&Series> = lines.iter().filter(|s| s.transport == *t).collect();
            let describe = |value: fn(&Point) -> Option<f64>| -> String {
                let all: Vec<(f64, f64, f64)> =
                    mine.iter().filter_map(|s| ends(s, value)).collect();
                match all.as_slice() {
                    [] => "unknown".into(),
                    [(a, b, r)] => format!(
                        "{} → {} ({})",
                        fmt::sig3(*a),
                        fmt::sig3(*b),
                        fmt::times(Some(*r))
                    ),
                    many => {
                        let min = many.iter().map(|e| e.2).fold(f64::INFINITY, f64::min);
                        let max = many.iter().map(|e| e.2).fold(0.0, f64::max);
                        if fmt::sig3(min) == fmt::sig3(max) {
                            fmt::times(Some(min))
                        } else {
                            format!("{} to {}", fmt::times(Some(min)), fmt::times(Some(max)))
                        }
                    }
                }
            };
            let lines_note = if mine.len() > 1 {
                format!(" ({} lines)", mine.len())
            } else {
                String::new()
            };
            format!(
                "{t}{lines_note} requests {} and bytes {}",
                describe(|p| p.1),
                describe(|p| p.2)
            )
        })
        .collect();
    format!(
        "From {} to {} {}, per delivered message: {}.",
        axis.value(lo),
        axis.value(hi),
        axis.unit(),
        parts.join("; ")
    )
}
