//! The round-trip chart: median latency of each transport as the one-way
//! delay the proxy adds grows, beside the lines of one and three transits,
//! so a reader sees which latency follows the network (push, long polling)
//! and which follows the poll interval (short polling). Drawn from the runs
//! with `one_way_delay_ms` set (`pushpoll compare --rtt`), the report's
//! "Network round trip" section.

use plotters::prelude::*;

use super::{color, draw_error, legend_panel, log_range, render_sized, titled, Chart, Key};
use crate::{fmt, ReportError, RunResult};

/// The chart's id.
pub const ID: &str = "rtt";

/// The chart's title.
pub const TITLE: &str = "Median latency as the one-way network delay grows";

/// One line: a transport (and short-poll interval) at one publish rate,
/// its median latency at each one-way delay.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The transport.
    pub transport: String,
    /// Short-poll interval, seconds.
    pub poll_interval_s: Option<f64>,
    /// Messages per second.
    pub rate: f64,
    /// Legend text.
    pub label: String,
    /// (one-way delay ms, p50 ms), by delay; runs that delivered nothing
    /// are left out.
    pub points: Vec<(f64, f64)>,
}

/// The lines of `runs`: every run with a recorded one-way delay, grouped by
/// transport, short-poll interval and rate.
pub fn lines(runs: &[RunResult]) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for r in runs {
        let Some(d) = r.one_way_delay_ms.filter(|d| d.is_finite() && *d >= 0.0) else {
            continue;
        };
        if r.latency_us.count == 0 {
            continue;
        }
        let point = (d, r.latency_us.p50 as f64 / 1000.0);
        let same = |l: &Line| {
            l.transport == r.transport
                && l.poll_interval_s == r.poll_interval_s
                && l.rate == r.publish_rate
        };
        match out.iter_mut().find(|l| same(l)) {
            Some(l) => l.points.push(point),
            None => out.push(Line {
                transport: r.transport.clone(),
                poll_interval_s: r.poll_interval_s,
                rate: r.publish_rate,
                label: String::new(),
                points: vec![point],
            }),
        }
    }
    let several_rates = out.iter().any(|l| l.rate != out[0].rate);
    for l in &mut out {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut label = l.transport.clone();
        if let Some(i) = l.poll_interval_s {
            label.push_str(&format!(" every {} s", fmt::axis(i)));
        }
        if several_rates {
            label.push_str(&format!(", {} msg/s", fmt::axis(l.rate)));
        }
        l.label = label;
    }
    out
}

/// The style of line `i`: its transport's colour (darker for each further
/// short-poll interval), solid at the lowest rate of its transport and
/// dashed at higher ones.
fn style(lines: &[Line], i: usize) -> (RGBColor, Key) {
    let l = &lines[i];
    let mut intervals: Vec<f64> = lines
        .iter()
        .filter(|o| o.transport == l.transport)
        .filter_map(|o| o.poll_interval_s)
        .collect();
    intervals.sort_by(f64::total_cmp);
    intervals.dedup();
    let shade = l
        .poll_interval_s
        .and_then(|p| intervals.iter().position(|x| *x == p))
        .unwrap_or(0);
    let RGBColor(r, g, b) = color(&l.transport, i);
    let f = 1.0 - 0.35 * shade.min(2) as f64;
    let c = RGBColor(
        (r as f64 * f) as u8,
        (g as f64 * f) as u8,
        (b as f64 * f) as u8,
    );
    let lowest = lines
        .iter()
        .filter(|o| o.transport == l.transport)
        .map(|o| o.rate)
        .fold(f64::INFINITY, f64::min);
    let key = if l.rate == lowest {
        Key::Line(2)
    } else {
        Key::Dashed(2)
    };
    (c, key)
}

/// Draws the chart of `runs` (the delayed ones, see [`lines`]).
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let lines = lines(runs);
    let grey = RGBColor(120, 120, 120);
    let mut legend: Vec<(String, RGBColor, Key)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (c, k) = style(&lines, i);
            (l.label.clone(), c, k)
        })
        .collect();
    legend.push(("1 transit (d)".into(), grey, Key::Dashed(1)));
    legend.push(("3 transits (3d)".into(), grey, Key::Dashed(1)));
    let legend_height = 20 + 18 * legend.len().div_ceil(3) as u32;
    let size = (super::SIZE.0, super::SIZE.1 + legend_height);
    let svg = render_sized(ID, TITLE, size, |root| {
        let body = titled(root, ID, TITLE)?;
        let (plot, below) = body.split_vertically(super::SIZE.1 - 30);
        draw(&plot, &lines, grey)?;
        legend_panel(&below, ID, &legend)
    })?;
    Ok(Chart {
        id: ID,
        title: TITLE.to_string(),
        reading: reading(&lines),
        svg,
    })
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    lines: &[Line],
    grey: RGBColor,
) -> Result<(), ReportError> {
    let err = draw_error(ID);
    let mut xs: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let x_hi = xs.last().copied().unwrap_or(1.0).max(1.0);
    // The transit lines over the delays measured, from a tenth of the
    // largest (a log axis has no zero).
    let reference = |k: f64| -> Vec<(f64, f64)> {
        (0..=20)
            .map(|i| {
                let x = x_hi / 10.0 + (x_hi - x_hi / 10.0) * i as f64 / 20.0;
                (x, k * x)
            })
            .collect()
    };
    let y_range = log_range(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain([x_hi / 10.0, 3.0 * x_hi]),
    );
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(24)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_hi * 1.05, y_range.log_scale())
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc("one-way delay added, d (ms)")
        .y_desc("p50 latency (ms, log)")
        .x_label_formatter(&|x| fmt::axis(*x))
        .y_label_formatter(&|y| fmt::axis(*y))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(&err)?;
    for k in [1.0, 3.0] {
        chart
            .draw_series(DashedLineSeries::new(
                reference(k),
                4,
                4,
                grey.stroke_width(1),
            ))
            .map_err(&err)?;
    }
    for (i, l) in lines.iter().enumerate() {
        let (c, key) = style(lines, i);
        let points: Vec<(f64, f64)> = l.points.iter().copied().filter(|p| p.1 > 0.0).collect();
        match key {
            Key::Line(w) => chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(w)))
                .map(|_| ())
                .map_err(&err)?,
            Key::Dashed(w) => chart
                .draw_series(DashedLineSeries::new(
                    points.clone(),
                    6,
                    4,
                    c.stroke_width(w),
                ))
                .map(|_| ())
                .map_err(&err)?,
        }
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(&err)?;
    }
    Ok(())
}

/// "Short polling's p50 grows with its interval (every 0.5 s: 268 ms and
/// every 1 s: 517 ms at d = 50.0 ms, 2 msg/s); WebSocket's p50 tracks d alone
/// (0.400, 25.6 and 50.8 ms at d = 0, 25 and 50 ms, 2 msg/s); long polling's,
/// at d = 50.0 ms, is …", from the lines at their lowest rate; "tracks" and
/// "grows" are checked against the numbers, not assumed.
pub fn reading(lines: &[Line]) -> String {
    let lowest = |t: &str| -> Vec<&Line> {
        let rate = lines
            .iter()
            .filter(|l| l.transport == t)
            .map(|l| l.rate)
            .fold(f64::INFINITY, f64::min);
        lines
            .iter()
            .filter(|l| l.transport == t && l.rate == rate)
            .collect()
    };
    let ms = |v: f64| format!("{} ms", fmt::sig3(v));
    let at_rate = |l: &Line| format!("{} msg/s", fmt::axis(l.rate));
    let mut parts = Vec::new();

    let mut short = lowest("short-poll");
    short.sort_by(|a, b| {
        a.poll_interval_s
            .unwrap_or(0.0)
            .total_cmp(&b.poll_interval_s.unwrap_or(0.0))
    });
    // The largest delay every short-poll line was measured at.
    let shared_d = short
        .iter()
        .map(|l| {
            l.points
                .iter()
                .map(|p| p.0)
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .fold(f64::INFINITY, f64::min);
    let at_shared: Vec<String> = short
        .iter()
        .filter_map(|l| {
            let p = l.points.iter().find(|p| p.0 == shared_d)?;
            Some(format!(
                "every {} s: {}",
                fmt::axis(l.poll_interval_s.unwrap_or(0.0)),
                ms(p.1)
            ))
        })
        .collect();
    if let Some(first) = short.first().filter(|_| !at_shared.is_empty()) {
        let p50s: Vec<f64> = short
            .iter()
            .filter_map(|l| l.points.iter().find(|p| p.0 == shared_d).map(|p| p.1))
            .collect();
        if p50s.len() < 2 {
            parts.push(format!(
                "short polling's p50 is {} polling every {} s at d = {} ({})",
                ms(p50s[0]),
                fmt::axis(first.poll_interval_s.unwrap_or(0.0)),
                ms(shared_d),
                at_rate(first)
            ));
        } else {
            let verb = if p50s.windows(2).all(|w| w[1] > w[0]) {
                "grows with its interval"
            } else {
                "does not grow with its interval"
            };
            parts.push(format!(
                "short polling's p50 {verb} ({} at d = {}, {})",
                fmt::and_list(&at_shared),
                ms(shared_d),
                at_rate(first)
            ));
        }
    }

    for (t, name) in [("ws", "WebSocket's"), ("sse", "SSE's")] {
        if let Some(l) = lowest(t).first() {
            let values: Vec<String> = l.points.iter().map(|p| fmt::sig3(p.1)).collect();
            let delays: Vec<String> = l.points.iter().map(|p| fmt::axis(p.0)).collect();
            let tracks = l
                .points
                .iter()
                .filter(|p| p.0 > 0.0)
                .all(|p| (p.1 / p.0 - 1.0).abs() <= crate::rfc6202::TOLERANCE);
            let verb = if tracks {
                "tracks d alone"
            } else {
                "strays from d"
            };
            parts.push(format!(
                "{name} p50 {verb} ({} ms at d = {} ms, {})",
                fmt::and_list(&values),
                fmt::and_list(&delays),
                at_rate(l)
            ));
            break;
        }
    }

    // Long polling at its largest delay, in transits, at each rate.
    let long: Vec<&Line> = lines
        .iter()
        .filter(|l| l.transport == "long-poll")
        .collect();
    let d_max = long
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    let mut at_rates: Vec<(f64, f64)> = long
        .iter()
        .filter_map(|l| {
            let p = l.points.iter().find(|p| p.0 == d_max)?;
            Some((l.rate, p.1 / d_max))
        })
        .collect();
    at_rates.sort_by(|a, b| a.0.total_cmp(&b.0));
    if d_max > 0.0 && !at_rates.is_empty() {
        let each: Vec<String> = at_rates
            .iter()
            .map(|(rate, transits)| {
                let regime = crate::rfc6202::Regime::of(rate * 2.0 * d_max / 1000.0);
                format!(
                    "{} d at {} msg/s ({})",
                    fmt::sig3(*transits),
                    fmt::axis(*rate),
                    regime.name()
                )
            })
            .collect();
        parts.push(format!(
            "long polling's, at d = {}, is {}",
            ms(d_max),
            fmt::and_list(&each)
        ));
    }

    if parts.is_empty() {
        return "Median latency of each transport at every one-way delay measured.".into();
    }
    let mut sentence = parts.join("; ");
    if let Some(c) = sentence.get(..1) {
        sentence = c.to_uppercase() + &sentence[1..];
    }
    sentence.push('.');
    sentence
}
