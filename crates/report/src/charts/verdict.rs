//! The verdict's chart: HTTP requests per delivered message against the
//! message rate, one line per transport through every workload measured
//! (the quiet and the busy chat by default), log on both axes, with the
//! rate where short polling's line crosses long polling's marked: below it
//! short polls are mostly empty, above it each one carries a batch.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{color, draw_error, log_range, render, Chart};
use crate::{fmt, ReportError, RunResult};

/// The chart's id.
pub const ID: &str = "verdict";

/// One line: a transport's (rate, requests per delivered message), by rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The transport.
    pub transport: String,
    /// (messages per second, requests per delivered message), sorted by rate.
    pub points: Vec<(f64, f64)>,
}

/// The lines of `runs` (one run per transport and rate: the first).
pub fn lines(runs: &[RunResult]) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for r in runs {
        let Some(v) = r.requests_per_delivered.filter(|v| *v > 0.0) else {
            continue;
        };
        if r.publish_rate <= 0.0 {
            continue;
        }
        let i = match out.iter().position(|l| l.transport == r.transport) {
            Some(i) => i,
            None => {
                out.push(Line {
                    transport: r.transport.clone(),
                    points: Vec::new(),
                });
                out.len() - 1
            }
        };
        if !out[i].points.iter().any(|p| p.0 == r.publish_rate) {
            out[i].points.push((r.publish_rate, v));
        }
    }
    for l in &mut out {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// The rate and value where line `a` crosses line `b`, interpolated
/// between measured rates on the log-log plane (where both lines are
/// straight between their points); the first crossing by rate.
pub fn crossover(a: &Line, b: &Line) -> Option<(f64, f64)> {
    let common: Vec<(f64, f64, f64)> = a
        .points
        .iter()
        .filter_map(|&(x, ya)| {
            let yb = b.points.iter().find(|p| p.0 == x)?.1;
            Some((x.ln(), ya.ln(), yb.ln()))
        })
        .collect();
    common.windows(2).find_map(|w| {
        let (x0, a0, b0) = w[0];
        let (x1, a1, b1) = w[1];
        let (d0, d1) = (a0 - b0, a1 - b1);
        if d0 == 0.0 {
            return Some((x0.exp(), a0.exp()));
        }
        if d1 == 0.0 {
            return Some((x1.exp(), a1.exp()));
        }
        if (d0 > 0.0) == (d1 > 0.0) {
            return None;
        }
        let t = d0 / (d0 - d1);
        let x = x0 + t * (x1 - x0);
        let y = a0 + t * (a1 - a0);
        Some((x.exp(), y.exp()))
    })
}

/// Draws the chart; `None` when fewer than two rates were measured (a
/// line needs two points).
pub fn chart(runs: &[RunResult]) -> Result<Option<Chart>, ReportError> {
    let lines = lines(runs);
    if !lines.iter().any(|l| l.points.len() >= 2) {
        return Ok(None);
    }
    let title = "HTTP requests per delivered message as the chat gets busier".to_string();
    let by = |t: &str| lines.iter().find(|l| l.transport == t);
    let cross = by("short-poll")
        .zip(by("long-poll"))
        .and_then(|(s, l)| crossover(s, l));
    let mut xs: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let (x_lo, x_hi) = (xs[0], xs[xs.len() - 1]);
    let y_range = log_range(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain([1.0]),
    );
    let err = draw_error(ID);
    let svg = render(ID, &title, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&title, ("sans-serif", 17))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (x_lo / 1.5..x_hi * 1.5)
                    .log_scale()
                    .with_key_points(xs.clone()),
                y_range.clone().log_scale(),
            )
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("messages per second across the room (log)")
            .y_desc("requests per delivered message (log)")
            .x_label_formatter(&|x| fmt::axis(*x))
            .y_label_formatter(&|y| fmt::axis(*y))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(&err)?;
        // One request per message: above it, requests are wasted.
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x_lo / 1.5, 1.0), (x_hi * 1.5, 1.0)],
                4,
                4,
                BLACK.mix(0.4).stroke_width(1),
            ))
            .map_err(&err)?;
        // WebSocket last, on top: SSE often needs exactly as few requests.
        for (i, l) in lines.iter().enumerate().rev() {
            let c = color(&l.transport, i);
            chart
                .draw_series(LineSeries::new(l.points.clone(), c.stroke_width(3)))
                .map_err(&err)?
                .label(l.transport.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            chart
                .draw_series(l.points.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(&err)?;
        }
        if let Some((x, y)) = cross {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x, y),
                    7,
                    BLACK.stroke_width(2),
                )))
                .map_err(&err)?;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, y_range.start), (x, y_range.end)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .map_err(&err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("crossover ≈ {} msg/s", fmt::axis(x)),
                    (x, y_range.end),
                    ("sans-serif", 13)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Left, VPos::Top)),
                )))
                .map_err(&err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(&err)?;
        Ok(())
    })?;
    Ok(Some(Chart {
        id: ID,
        title,
        reading: reading(&lines, cross),
        svg,
    }))
}

/// `Short polling's requests per delivered message fall from 5.5 at 0.1
/// msg/s to 0.05 at 20 msg/s; it crosses long polling at ≈ 1.2 msg/s.`
pub fn reading(lines: &[Line], cross: Option<(f64, f64)>) -> String {
    let parts: Vec<String> = lines
        .iter()
        .filter(|l| l.points.len() >= 2)
        .map(|l| {
            let (a, b) = (l.points[0], l.points[l.points.len() - 1]);
            format!(
                "{} {} at {} msg/s → {} at {} msg/s",
                l.transport,
                fmt::sig3(a.1),
                fmt::axis(a.0),
                fmt::sig3(b.1),
                fmt::axis(b.0)
            )
        })
        .collect();
    let mut s = format!("Requests per delivered message: {}.", fmt::and_list(&parts));
    match cross {
        Some((x, _)) => s.push_str(&format!(
            " Short polling needs fewer requests than long polling above ≈ {} msg/s (marked), \
             where each poll starts to carry a batch.",
            fmt::axis(x)
        )),
        None => s.push_str(" Short and long polling do not cross between the rates measured."),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t: &str, points: &[(f64, f64)]) -> Line {
        Line {
            transport: t.into(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn the_crossover_is_where_the_log_log_lines_meet() {
        // Short polls once a second: 1/rate requests per message; long
        // polls one per message. They meet at 1 msg/s.
        let short = line("short-poll", &[(0.1, 10.0), (10.0, 0.1)]);
        let long = line("long-poll", &[(0.1, 1.0), (10.0, 1.0)]);
        let (x, y) = crossover(&short, &long).unwrap();
        assert!((x - 1.0).abs() < 1e-9 && (y - 1.0).abs() < 1e-9, "{x} {y}");
        // Lines that never meet have no crossover.
        let low = line("long-poll", &[(0.1, 0.01), (10.0, 0.01)]);
        assert_eq!(crossover(&short, &low), None);
        assert!(reading(&[short, low], None).contains("do not cross"));
    }
}
