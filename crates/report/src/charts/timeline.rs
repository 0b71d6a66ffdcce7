//! `timeline.svg`: HTTP requests per second on the wire, per transport,
//! second by second through a run's phases (idle, then publishing), so the
//! difference between polling and push shows as it happens: short polls
//! keep a steady beat whether or not anything is said, long polls follow
//! the messages, a WebSocket is silent after its handshake.
//!
//! It draws plain per-second series ([`Series`]); it does not collect
//! them. A run's per-second entries (its `timeline`, second `t_s` from the
//! run's start, `requests` sent in that second) map onto a [`Series`] one
//! to one. Runs of different transports are sequential under `compare`, so
//! each series is drawn against its own run's clock, overlaid.

use plotters::prelude::*;

use super::{color, draw_error, legend_panel, render_sized, titled, Chart, Key};
use crate::{fmt, ReportError};

/// The chart's id (the file is `timeline.svg`).
pub const ID: &str = "timeline";

/// One second of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    /// Start of the second, seconds since the run's start.
    pub t_s: f64,
    /// HTTP requests the subscribers sent in it.
    pub requests: u64,
}

/// One transport's run, second by second.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The transport (its colour, its legend entry).
    pub transport: String,
    /// Its seconds, in order.
    pub seconds: Vec<Second>,
}

/// A named stretch of the run's clock, shaded behind the lines (`idle`,
/// `quiet chat`, `busy chat`).
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// What happened then.
    pub name: String,
    /// From, seconds since the run's start.
    pub from_s: f64,
    /// To.
    pub to_s: f64,
}

/// `timeline.svg` from runs' per-second timelines (`RunResult::timeline`,
/// `t_s` from the first publish): one series per run, the seconds before
/// publishing shaded as the idle phase; `None` when no run has a timeline.
pub fn from_runs(runs: &[pushpoll_results::RunResult]) -> Result<Option<Chart>, ReportError> {
    let series: Vec<Series> = runs
        .iter()
        .filter(|r| !r.timeline.is_empty())
        .map(|r| Series {
            transport: r.transport.clone(),
            seconds: r
                .timeline
                .iter()
                .map(|e| Second {
                    t_s: e.t_s as f64,
                    requests: e.requests,
                })
                .collect(),
        })
        .collect();
    let first = series
        .iter()
        .flat_map(|s| s.seconds.first())
        .map(|p| p.t_s)
        .fold(0.0, f64::min);
    let last = series
        .iter()
        .flat_map(|s| s.seconds.last())
        .map(|p| p.t_s + 1.0)
        .fold(0.0, f64::max);
    let mut phases = Vec::new();
    if first < 0.0 {
        phases.push(Phase {
            name: "idle (connected, nothing published)".into(),
            from_s: first,
            to_s: 0.0,
        });
    }
    phases.push(Phase {
        name: "publishing".into(),
        from_s: 0.0,
        to_s: last,
    });
    chart(&series, &phases)
}

/// Draws requests per second against time; `None` when no series has a
/// second to draw.
pub fn chart(series: &[Series], phases: &[Phase]) -> Result<Option<Chart>, ReportError> {
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.seconds.iter().map(|p| (p.t_s, p.requests as f64)))
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    let title = "HTTP requests per second on the wire, second by second".to_string();
    let x_hi = points
        .iter()
        .map(|p| p.0 + 1.0)
        .chain(phases.iter().map(|p| p.to_s))
        .fold(1.0, f64::max);
    let y_hi = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let err = draw_error(ID);
    let legend: Vec<(String, RGBColor, Key)> = series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.transport.clone(), color(&s.transport, i), Key::Line(2)))
        .collect();
    let size = (super::SIZE.0, super::SIZE.1 + 40);
    let svg = render_sized(ID, &title, size, |root| {
        let body = titled(root, ID, &title)?;
        let (plot, below) = body.split_vertically(super::SIZE.1 - 20);
        let mut chart = ChartBuilder::on(&plot)
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_hi, 0.0..y_hi)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the run started")
            .y_desc("requests per second")
            .x_label_formatter(&|x| fmt::axis(*x))
            .y_label_formatter(&|y| fmt::axis(*y))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(&err)?;
        for (i, p) in phases.iter().enumerate() {
            let shade = if i % 2 == 0 { 0.07 } else { 0.14 };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(p.from_s, 0.0), (p.to_s, y_hi)],
                    BLACK.mix(shade).filled(),
                )))
                .map_err(&err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    p.name.clone(),
                    (p.from_s, y_hi),
                    ("sans-serif", 13).into_font().color(&BLACK),
                )))
                .map_err(&err)?;
        }
        for (i, s) in series.iter().enumerate() {
            let c = color(&s.transport, i);
            // A step per second: the count belongs to the whole second.
            let steps: Vec<(f64, f64)> = s
                .seconds
                .iter()
                .flat_map(|p| {
                    let y = p.requests as f64;
                    [(p.t_s, y), (p.t_s + 1.0, y)]
                })
                .collect();
            chart
                .draw_series(LineSeries::new(steps, c.stroke_width(2)))
                .map_err(&err)?;
        }
        legend_panel(&below, ID, &legend)
    })?;
    Ok(Some(Chart {
        id: ID,
        title,
        reading: reading(series, phases),
        svg,
    }))
}

/// Mean requests per second of each series in each phase, e.g.
/// `idle: short-poll 100/s, ws 0/s; busy chat: …`.
pub fn reading(series: &[Series], phases: &[Phase]) -> String {
    let mean = |s: &Series, from: f64, to: f64| {
        let inside: Vec<f64> = s
            .seconds
            .iter()
            .filter(|p| p.t_s >= from && p.t_s + 1.0 <= to)
            .map(|p| p.requests as f64)
            .collect();
        (!inside.is_empty()).then(|| inside.iter().sum::<f64>() / inside.len() as f64)
    };
    let whole = Phase {
        name: "the whole run".into(),
        from_s: 0.0,
        to_s: f64::INFINITY,
    };
    let phases: Vec<&Phase> = if phases.is_empty() {
        vec![&whole]
    } else {
        phases.iter().collect()
    };
    let parts: Vec<String> = phases
        .iter()
        .filter_map(|p| {
            let per: Vec<String> = series
                .iter()
                .filter_map(|s| {
                    Some(format!(
                        "{} {}/s",
                        s.transport,
                        fmt::sig3(mean(s, p.from_s, p.to_s)?)
                    ))
                })
                .collect();
            (!per.is_empty()).then(|| format!("{}: {}", p.name, per.join(", ")))
        })
        .collect();
    if parts.is_empty() {
        "No whole second was measured.".into()
    } else {
        format!("Mean requests per second, {}.", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(t: &str, counts: &[u64]) -> Series {
        Series {
            transport: t.into(),
            seconds: counts
                .iter()
                .enumerate()
                .map(|(i, &requests)| Second {
                    t_s: i as f64,
                    requests,
                })
                .collect(),
        }
    }

    #[test]
    fn draws_every_transport_and_reads_each_phase() {
        let lines = [
            series("short-poll", &[100, 100, 100, 100]),
            series("ws", &[100, 0, 0, 0]),
        ];
        let phases = [
            Phase {
                name: "idle".into(),
                from_s: 1.0,
                to_s: 3.0,
            },
            Phase {
                name: "busy chat".into(),
                from_s: 3.0,
                to_s: 4.0,
            },
        ];
        let c = chart(&lines, &phases).unwrap().expect("drawn");
        assert_eq!(c.id, "timeline");
        assert!(c.svg.contains("id=\"chart-timeline\""));
        assert!(c.svg.contains("idle") && c.svg.contains("busy chat"));
        assert_eq!(
            c.reading,
            "Mean requests per second, idle: short-poll 100/s, ws 0/s; \
             busy chat: short-poll 100/s, ws 0/s."
        );
        assert_eq!(chart(&[], &phases).unwrap(), None);
    }
}
