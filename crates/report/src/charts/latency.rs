//! Chart 1: delivery latency percentiles per transport, both axes
//! logarithmic, drawn from each run's full histogram when it decodes, with
//! the summary percentiles (p50, p90, p99, p99.9, max) marked.

use plotters::prelude::*;

use super::{baseline, color, draw_error, log_range, render, workload_phrase, Chart};
use crate::{fmt, latency, ReportError, RunResult};

/// A run, its curve (nines x, µs) and whether it came from the histogram.
type Curve<'a> = (&'a RunResult, Vec<(f64, f64)>, bool);

/// The chart's id.
pub const ID: &str = "latency";

/// Draws the chart for runs of one workload.
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let title = format!(
        "Delivery latency percentiles per transport ({})",
        workload_phrase(runs)
    );
    let curves: Vec<Curve<'_>> = runs
        .iter()
        .map(|r| {
            let (points, full) = latency::curve(r);
            (r, points, full)
        })
        .filter(|(_, points, _)| !points.is_empty())
        .collect();
    let to_ms = |us: f64| (us / 1000.0).max(0.001);
    let svg = render(ID, &title, |root| {
        let err = draw_error(ID);
        let x_end = curves
            .iter()
            .flat_map(|(_, p, _)| p.iter().map(|q| q.0))
            .fold(10.0, f64::max);
        let x_range = 1.0..10f64.powf(x_end.log10().ceil());
        let y_range = log_range(
            curves
                .iter()
                .flat_map(|(_, p, _)| p.iter().map(|q| to_ms(q.1))),
        );
        let mut chart = ChartBuilder::on(root)
            .caption(&title, ("sans-serif", 17))
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range.log_scale(), y_range.log_scale())
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("percentile (nines scale: 90%, 99%, 99.9%, …)")
            .y_desc("latency (ms)")
            .x_label_formatter(&|x| latency::nines_label(*x))
            .y_label_formatter(&|y| fmt::axis(*y))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(&err)?;
        for (i, (run, points, full)) in curves.iter().enumerate() {
            let c = color(&run.transport, i);
            let label = if *full {
                run.transport.clone()
            } else {
                format!("{} (summary percentiles only)", run.transport)
            };
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(x, y)| (x, to_ms(y))),
                    c.stroke_width(2),
                ))
                .map_err(&err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(
                    latency::summary_points(run)
                        .into_iter()
                        .map(|(x, y)| Circle::new((x, to_ms(y)), 4, c.filled())),
                )
                .map_err(&err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(&err)?;
        Ok(())
    })?;
    Ok(Chart {
        id: ID,
        title,
        reading: reading(runs),
        svg,
    })
}

/// `p99 latency with 200 subscribers at 5.00 msg/s: short-poll 996 ms, 199×
/// ws's 5.00 ms; …`, slowest first.
pub fn reading(runs: &[RunResult]) -> String {
    let p99 = |r: &RunResult| (r.latency_us.count > 0).then_some(r.latency_us.p99 as f64);
    let Some(base) = baseline(runs, p99) else {
        return "No run delivered a message, so there is no latency to compare.".into();
    };
    let base_p99 = p99(base).unwrap_or(0.0);
    let mut others: Vec<(&RunResult, f64)> = runs
        .iter()
        .filter(|r| r.transport != base.transport)
        .filter_map(|r| Some((r, fmt::ratio(p99(r)?, base_p99)?)))
        .collect();
    others.sort_by(|a, b| b.1.total_cmp(&a.1));
    let parts: Vec<String> = others
        .iter()
        .map(|(r, ratio)| {
            format!(
                "{} {} ms ({} {}'s)",
                r.transport,
                fmt::ms(r.latency_us.p99),
                fmt::times(Some(*ratio)),
                base.transport
            )
        })
        .collect();
    let mut s = format!(
        "p99 delivery latency with {}: {} {} ms",
        workload_phrase(runs),
        base.transport,
        fmt::ms(base.latency_us.p99)
    );
    if !parts.is_empty() {
        s.push_str(&format!("; {}", fmt::and_list(&parts)));
    }
    s.push('.');
    s
}
