//! Chart 6: this run's measured traffic per client scaled to 1,000, 10,000
//! and 100,000 clients (the arithmetic of [`crate::projection`]), beside the
//! figures Kaazing computed for polling and for WebSocket.

use plotters::prelude::*;

use super::{
    color, draw_error, legend_panel, log_range, render, titled, workload_phrase, Chart, Key,
};
use crate::projection::{mbps, CLIENTS, KAAZING_POLLING_MBPS, KAAZING_WEBSOCKET_MBPS};
use crate::{fmt, ReportError, RunResult};

/// The chart's id.
pub const ID: &str = "projection";

/// Whether Kaazing's WebSocket figure (rather than its polling one) is the
/// published figure to hold a transport against.
fn is_push(transport: &str) -> bool {
    matches!(transport, "ws" | "sse")
}

/// Draws the chart for runs of one workload.
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let title = format!(
        "Traffic projected to more clients beside Kaazing's figures ({})",
        workload_phrase(runs)
    );
    let xs: Vec<f64> = CLIENTS.iter().map(|&c| c as f64).collect();
    let line = |per_second: Option<f64>| -> Vec<(f64, f64)> {
        per_second
            .map(|b| {
                CLIENTS
                    .iter()
                    .map(|&c| (c as f64, mbps(b, c)))
                    .filter(|p| p.1 > 0.0)
                    .collect()
            })
            .unwrap_or_default()
    };
    let svg = render(ID, &title, |root| {
        let err = draw_error(ID);
        let all = runs
            .iter()
            .flat_map(|r| {
                line(r.bytes_per_subscriber_second)
                    .into_iter()
                    .chain(line(r.overhead_bytes_per_subscriber_second))
            })
            .map(|p| p.1)
            .chain(KAAZING_POLLING_MBPS)
            .chain(KAAZING_WEBSOCKET_MBPS);
        let y_range = log_range(all);
        let x_range = (xs[0] / 1.5)..(xs[xs.len() - 1] * 1.5);
        let body = titled(root, ID, &title)?;
        let (plot, side) = body.split_horizontally(super::SIZE.0 - 220);
        let mut legend = Vec::new();
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range.log_scale(), y_range.log_scale())
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc("clients")
            .y_desc("Mbps (2^20 bits/s), log")
            .x_label_formatter(&|x| fmt::thousands(x.round() as u64))
            .y_label_formatter(&|y| fmt::axis(*y))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(&err)?;
        for (i, r) in runs.iter().enumerate() {
            let c = color(&r.transport, i);
            let total = line(r.bytes_per_subscriber_second);
            chart
                .draw_series(LineSeries::new(total.clone(), c.stroke_width(2)))
                .map_err(&err)?;
            legend.push((format!("{} total", r.transport), c, Key::Line(2)));
            chart
                .draw_series(total.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(&err)?;
            let overhead = line(r.overhead_bytes_per_subscriber_second);
            chart
                .draw_series(DashedLineSeries::new(
                    overhead.clone(),
                    6,
                    4,
                    c.stroke_width(1),
                ))
                .map_err(&err)?;
            legend.push((format!("{} overhead", r.transport), c, Key::Dashed(1)));
        }
        for (label, figures, c) in [
            ("Kaazing polling", KAAZING_POLLING_MBPS, BLACK),
            (
                "Kaazing WebSocket",
                KAAZING_WEBSOCKET_MBPS,
                RGBColor(110, 110, 110),
            ),
        ] {
            let points: Vec<(f64, f64)> = xs.iter().copied().zip(figures).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(3)))
                .map_err(&err)?;
            legend.push((label.to_string(), c, Key::Line(3)));
            chart
                .draw_series(points.iter().map(|&p| Cross::new(p, 5, c.stroke_width(2))))
                .map_err(&err)?;
        }
        legend_panel(&side, ID, &legend)
    })?;
    Ok(Chart {
        id: ID,
        title,
        reading: reading(runs),
        svg,
    })
}

/// `At 100,000 clients, this run's overhead (all but payload) projects to
/// 299 Mbps for short-poll, 0.450× Kaazing's computed 665 Mbps for polling, …`
pub fn reading(runs: &[RunResult]) -> String {
    let last = CLIENTS.len() - 1;
    let clients = CLIENTS[last];
    let parts: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            let overhead = mbps(r.overhead_bytes_per_subscriber_second?, clients);
            let total = r.bytes_per_subscriber_second.map(|b| mbps(b, clients));
            let (kaazing, what) = if is_push(&r.transport) {
                (KAAZING_WEBSOCKET_MBPS[last], "WebSocket")
            } else {
                (KAAZING_POLLING_MBPS[last], "polling")
            };
            Some(format!(
                "{} {} Mbps ({} Kaazing's {} Mbps for {what}; {} Mbps with payload)",
                r.transport,
                fmt::sig3(overhead),
                fmt::times(fmt::ratio(overhead, kaazing)),
                fmt::sig3(kaazing),
                fmt::opt(total)
            ))
        })
        .collect();
    if parts.is_empty() {
        return "No run measured its bytes per subscriber-second, so nothing can be projected."
            .into();
    }
    let rate = runs.first().map_or(0.0, |r| r.publish_rate);
    format!(
        "At {} clients, the overhead this run measured (everything but payload) projects to {}; \
         Kaazing's figures count header or framing bytes at one poll or message per second per client, \
         this run published {} msg/s to every subscriber.",
        fmt::thousands(clients),
        fmt::and_list(&parts),
        fmt::sig3(rate)
    )
}
