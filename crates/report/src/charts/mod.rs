//! The report's charts, drawn with plotters' SVG backend (no fonts needed:
//! text goes into the SVG as `<text>` and the viewer draws it). Each chart
//! comes with a one-sentence reading computed from the same runs.
//!
//! - [`latency`]: percentile curves per transport (log scales).
//! - [`requests`]: HTTP requests per delivered message (log bars).
//! - [`bytes`]: bytes per delivered message, payload vs overhead.
//! - [`sweep`]: requests and bytes per delivered message as subscribers or
//!   the publish rate grow, when the inputs hold such sweeps.
//! - [`idle`]: what an idle subscriber costs per hour.
//! - [`projection`]: traffic at 1k/10k/100k clients beside Kaazing's figures.
//! - [`cpu`]: server CPU per delivered message, checked against Bozdag et al.
//! - [`over_time`]: deliveries, p99, connected subscribers and requests
//!   per second, from each run's timeline.
//! - [`rtt`]: median latency as the added one-way delay grows (runs of
//!   `compare --rtt` only).
//! - [`verdict`]: requests per delivered message against the message rate,
//!   the short/long-poll crossover marked (the verdict's chart).
//! - [`paths`]: each transport's message path as a small sequence diagram.
//! - [`timeline`]: requests per second, second by second, per transport.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{fmt, ReportError, RunResult};

pub mod bytes;
pub mod cpu;
pub mod idle;
pub mod latency;
pub mod over_time;
pub mod paths;
pub mod projection;
pub mod requests;
pub mod rtt;
pub mod sweep;
pub mod timeline;
pub mod verdict;

/// One drawn chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Short name: the file is `{id}.svg` and the `<svg>` element's id is
    /// `chart-{id}`.
    pub id: &'static str,
    /// What it shows (also the SVG's `<title>`).
    pub title: String,
    /// One sentence saying what the data shows, computed from it.
    pub reading: String,
    /// The SVG document (no XML declaration, so it can be inlined as is).
    pub svg: String,
}

/// A chart the inputs could not feed, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Omitted {
    /// The id the chart would have had.
    pub id: &'static str,
    /// The title it would have had.
    pub title: String,
    /// Why it is not there, in words.
    pub reason: String,
}

/// Width and height of every chart, pixels.
pub const SIZE: (u32, u32) = (800, 420);

/// The font every chart uses (the viewer's sans-serif).
const FONT: &str = "sans-serif";

/// The colour a transport is drawn in, the same in every chart.
pub fn color(transport: &str, index: usize) -> RGBColor {
    match transport {
        "ws" => RGBColor(31, 119, 180),
        "sse" => RGBColor(44, 160, 44),
        "long-poll" => RGBColor(255, 127, 14),
        "short-poll" => RGBColor(214, 39, 40),
        _ => {
            const OTHERS: [RGBColor; 4] = [
                RGBColor(148, 103, 189),
                RGBColor(140, 86, 75),
                RGBColor(227, 119, 194),
                RGBColor(127, 127, 127),
            ];
            OTHERS[index % OTHERS.len()]
        }
    }
}

/// Turns a plotters error into the report's, naming the chart.
pub(crate) fn draw_error<E: std::fmt::Display>(id: &'static str) -> impl Fn(E) -> ReportError {
    move |e| ReportError::Chart {
        chart: id,
        message: e.to_string(),
    }
}

/// Escapes text for XML content or attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Gives the SVG plotters wrote its identity: `id="chart-{id}"`, an
/// accessible role, and a `<title>` first child (what a browser shows on
/// hover and a screen reader reads).
pub(crate) fn finish(id: &'static str, title: &str, raw: String) -> Result<String, ReportError> {
    let open_end = raw
        .find("<svg ")
        .and_then(|start| raw[start..].find('>').map(|end| start + end))
        .ok_or(ReportError::Chart {
            chart: id,
            message: "the SVG backend wrote no <svg> element".into(),
        })?;
    let start = raw.find("<svg ").unwrap_or(0);
    let mut out = String::with_capacity(raw.len() + 200);
    out.push_str(&raw[start..start + 5]);
    out.push_str(&format!(
        "id=\"chart-{id}\" role=\"img\" aria-labelledby=\"chart-{id}-title\" "
    ));
    out.push_str(&raw[start + 5..=open_end]);
    out.push_str(&format!(
        "\n<title id=\"chart-{id}-title\">{}</title>",
        xml_escape(title)
    ));
    out.push_str(&raw[open_end + 1..]);
    Ok(out)
}

/// The run ratios are taken against: the WebSocket run when there is one
/// with a positive figure, else the run with the smallest positive figure.
pub(crate) fn baseline(
    runs: &[RunResult],
    value: impl Fn(&RunResult) -> Option<f64>,
) -> Option<&RunResult> {
    let positive = |r: &&RunResult| value(r).is_some_and(|v| v > 0.0);
    runs.iter()
        .filter(positive)
        .find(|r| r.transport == "ws")
        .or_else(|| {
            runs.iter().filter(positive).min_by(|a, b| {
                value(a)
                    .partial_cmp(&value(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        })
}

/// `200 subscribers at 5.00 msg/s`: the workload a reading speaks of.
pub(crate) fn workload_phrase(runs: &[RunResult]) -> String {
    runs.first().map_or_else(String::new, |r| {
        format!(
            "{} subscribers at {} msg/s",
            fmt::thousands(r.subscribers),
            fmt::sig3(r.publish_rate)
        )
    })
}

/// `10^floor(log10(lo))` .. `10^ceil(log10(hi))`: a log axis range holding
/// every positive value, at least one decade wide.
pub(crate) fn log_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.1..10.0;
    }
    let lo = 10f64.powf(lo.log10().floor());
    let mut hi = 10f64.powf(hi.log10().ceil());
    if hi <= lo {
        hi = lo * 10.0;
    }
    lo..hi
}

/// One bar of a bar chart: stacked parts from the bottom up and the label
/// written above it.
pub(crate) struct Bar {
    /// The x-axis label (the transport).
    pub name: String,
    /// (value, colour) from the bottom up; values ≤ 0 draw nothing.
    pub parts: Vec<(f64, RGBColor)>,
    /// Written above the bar.
    pub label: String,
}

/// Legend entries of a bar panel: (text, colour).
pub(crate) type Legend<'a> = &'a [(&'a str, RGBColor)];

/// Draws bars on a linear y axis from 0 in `area`.
pub(crate) fn bars_linear<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    id: &'static str,
    caption: &str,
    y_desc: &str,
    bars: &[Bar],
    y_format: &dyn Fn(f64) -> String,
    legend: Legend<'_>,
) -> Result<(), ReportError> {
    let err = draw_error(id);
    let top = bars
        .iter()
        .map(|b| b.parts.iter().map(|p| p.0.max(0.0)).sum::<f64>())
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.18 } else { 1.0 };
    let n = bars.len().max(1);
    let side = bar_side_margin(area, n);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(bar_axis(n), 0.0..top)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| bar_name(*x, bars))
        .y_desc(y_desc)
        .y_label_formatter(&|v| y_format(*v))
        .label_style((FONT, 13))
        .draw()
        .map_err(&err)?;
    for (i, bar) in bars.iter().enumerate() {
        let mut bottom = 0.0;
        for &(value, color) in &bar.parts {
            if value > 0.0 {
                let mut rect = Rectangle::new(
                    [(i as f64 - 0.5, bottom), (i as f64 + 0.5, bottom + value)],
                    color.filled(),
                );
                rect.set_margin(0, 0, side, side);
                chart.draw_series(std::iter::once(rect)).map_err(&err)?;
                bottom += value;
            }
        }
        chart
            .draw_series(std::iter::once(Text::new(
                bar.label.clone(),
                (i as f64, bottom),
                (FONT, 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )))
            .map_err(&err)?;
    }
    draw_bar_legend(&mut chart, legend, &err)
}

/// Draws single bars on a log y axis in `area` (bars start at the axis's
/// bottom; values ≤ 0 draw no bar, only their label).
pub(crate) fn bars_log<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    id: &'static str,
    caption: &str,
    y_desc: &str,
    bars: &[Bar],
) -> Result<(), ReportError> {
    let err = draw_error(id);
    let range = log_range(bars.iter().flat_map(|b| b.parts.iter().map(|p| p.0)));
    let (lo, hi) = (range.start, range.end);
    let n = bars.len().max(1);
    let side = bar_side_margin(area, n);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 17))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(bar_axis(n), (lo..hi).log_scale())
        .map_err(&err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| bar_name(*x, bars))
        .y_desc(y_desc)
        .y_label_formatter(&|v| fmt::axis(*v))
        .label_style((FONT, 13))
        .draw()
        .map_err(&err)?;
    for (i, bar) in bars.iter().enumerate() {
        let value = bar.parts.first().map_or(0.0, |p| p.0);
        let color = bar.parts.first().map_or(BLACK, |p| p.1);
        let topped = if value > 0.0 { value } else { lo };
        if value > 0.0 {
            let mut rect = Rectangle::new(
                [(i as f64 - 0.5, lo), (i as f64 + 0.5, value)],
                color.filled(),
            );
            rect.set_margin(0, 0, side, side);
            chart.draw_series(std::iter::once(rect)).map_err(&err)?;
        }
        chart
            .draw_series(std::iter::once(Text::new(
                bar.label.clone(),
                (i as f64, topped),
                (FONT, 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )))
            .map_err(&err)?;
    }
    Ok(())
}

/// Pixels left empty on each side of a bar, so bars are at most ~110 px
/// wide however few there are.
fn bar_side_margin<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    bars: usize,
) -> u32 {
    let segment = area.dim_in_pixel().0.saturating_sub(100) / bars.max(1) as u32;
    (segment.saturating_sub(110) / 2).max(18)
}

/// The x axis of a bar chart: bar `i` is centred on `i`, with a tick (its
/// name) there and nowhere else, however many bars there are.
pub(crate) struct BarAxis {
    bars: usize,
    inner: plotters::coord::types::RangedCoordf64,
}

impl plotters::coord::ranged1d::Ranged for BarAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        (0..self.bars).map(|i| i as f64).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

fn bar_axis(bars: usize) -> BarAxis {
    BarAxis {
        bars,
        inner: (-0.5..bars as f64 - 0.5).into(),
    }
}

/// The name under tick `x` of a bar chart.
fn bar_name(x: f64, bars: &[Bar]) -> String {
    let i = x.round();
    if i >= 0.0 && (x - i).abs() < 1e-6 {
        bars.get(i as usize)
            .map_or_else(String::new, |b| b.name.clone())
    } else {
        String::new()
    }
}

fn draw_bar_legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    legend: Legend<'_>,
    err: &impl Fn(DrawingAreaErrorKind<DB::ErrorType>) -> ReportError,
) -> Result<(), ReportError>
where
    DB: DrawingBackend + 'a,
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    if legend.is_empty() {
        return Ok(());
    }
    for &(text, color) in legend {
        chart
            .draw_series(std::iter::empty::<Rectangle<(X::ValueType, Y::ValueType)>>())
            .map_err(err)?
            .label(text)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 13))
        .draw()
        .map_err(err)
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Key {
    /// A solid line of this width.
    Line(u32),
    /// A dashed line of this width.
    Dashed(u32),
}

/// A legend beside or under the plot (so it never hides a line): entries
/// top to bottom, wrapping into columns when the area is too short.
pub(crate) fn legend_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    id: &'static str,
    entries: &[(String, RGBColor, Key)],
) -> Result<(), ReportError> {
    const ROW: i32 = 18;
    const TOP: i32 = 14;
    let err = draw_error(id);
    let (w, h) = area.dim_in_pixel();
    let per_column = ((h as i32 - TOP) / ROW).max(1) as usize;
    let columns = entries.len().div_ceil(per_column).max(1);
    let column_width = w as i32 / columns as i32;
    for (i, (label, color, key)) in entries.iter().enumerate() {
        let x = 8 + (i / per_column) as i32 * column_width;
        let y = TOP + (i % per_column) as i32 * ROW;
        let points = vec![(x, y), (x + 24, y)];
        match *key {
            Key::Line(width) => area
                .draw(&PathElement::new(points, color.stroke_width(width)))
                .map_err(&err)?,
            Key::Dashed(width) => area
                .draw(&plotters::element::DashedPathElement::new(
                    points,
                    5,
                    3,
                    color.stroke_width(width),
                ))
                .map_err(&err)?,
        }
        area.draw(&Text::new(
            label.clone(),
            (x + 30, y),
            (FONT, 13)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(&err)?;
    }
    Ok(())
}

/// Renders `draw` into an SVG string of [`SIZE`] and finishes it.
pub(crate) fn render(
    id: &'static str,
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    render_sized(id, title, SIZE, draw)
}

/// Renders `draw` into an SVG string of `size` pixels and finishes it.
pub(crate) fn render_sized(
    id: &'static str,
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    let mut raw = String::new();
    {
        let root = SVGBackend::with_string(&mut raw, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error(id))?;
        draw(&root)?;
        root.present().map_err(draw_error(id))?;
    }
    finish(id, title, raw)
}

/// Writes `title` across the top of `root` and returns the area under it.
pub(crate) fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    id: &'static str,
    title: &str,
) -> Result<DrawingArea<DB, plotters::coord::Shift>, ReportError> {
    root.titled(title, (FONT, 17)).map_err(draw_error(id))
}
