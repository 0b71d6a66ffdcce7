//! RFC 6202's latency claims next to what the runs measured through the
//! delaying proxy (`pushpoll compare --rtt`, which records the added one-way
//! delay `d` as `one_way_delay_ms` on each run).
//!
//! Latency is counted in transits of `d` because that is the unit of the
//! claim. Subscribers sit behind the proxy and publishers post straight to
//! the server, so a delivery's latency (from the scheduled publish time) is
//! the server-to-subscriber path plus whatever the transport makes a message
//! wait. What the RFC's model predicts, per row:
//! - WebSocket and SSE push at once: mean ≈ 1 transit at any rate.
//! - Long polling, events spaced wider than a round trip (`rate × 2d < 1`):
//!   a request is already waiting at the server, so mean ≈ 1 transit.
//! - Long polling, events back to back (`rate × 2d ≥ 1`): an event that comes
//!   just after a response left waits for that response (`d`) and the next
//!   request (`d`), then travels (`d`): worst case over 3 transits, about 2
//!   on average.
//! - Short polling (not an RFC claim, the same model): the wait for the next
//!   poll to reach the server, on average half the interval `I`, then one
//!   transit: mean ≈ `I/2 + d`, so interval and round trip add up.
//!
//! A mean agrees when it is within [`TOLERANCE`] of its prediction; the
//! worst case agrees when the largest latency is above 3 transits.

use crate::charts::Chart;
use crate::{fmt, RunResult};

/// The section's heading.
pub const TITLE: &str = "Network round trip — RFC 6202's claims, measured";

/// Where the claim comes from.
pub const CLAIM_SOURCE: &str = "RFC 6202, section 2.2 (long polling issues)";

/// The claim, in the words of the project's background notes.
pub const CLAIM: &str = "after an event, a long-poll client needs a new request before the next \
    one can be delivered; average latency about one network transit, worst case more than three \
    transits (response, new request, next response) when events arrive back to back.";

/// How the table is read, under the claim.
pub const EXPLANATION: &str = "d is the one-way delay the proxy adds in front of the subscribers \
    (half of --rtt; publishers post straight to the server), and one transit is d. Events per \
    round trip is the publish rate × 2d: below 1 events are spaced wider than a round trip, from 1 \
    on they come back to back. Latencies are in ms, with transits (÷ d) in brackets. Predicted, \
    with the RFC's model: push transports and long polling with spaced events, mean ≈ 1 transit; \
    long polling back to back, worst case over 3 transits (about 2 on average); short polling, \
    mean ≈ interval/2 + d. A mean agrees within ±25% of its prediction; a worst case agrees above \
    3 transits.";

pub use crate::rfc6202::{Regime, TOLERANCE};

/// What the model predicts for one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prediction {
    /// Mean ≈ one transit (push, or long polling with spaced events).
    OneTransit,
    /// Worst case over three transits (long polling, back to back).
    OverThreeTransits,
    /// Mean ≈ `interval / 2 + d` milliseconds (short polling).
    HalfIntervalPlusTransit {
        /// The expected mean, ms.
        mean_ms: f64,
    },
}

impl Prediction {
    /// The prediction for `transport` at this delay, regime and poll interval.
    pub fn of(
        transport: &str,
        delay_ms: f64,
        regime: Regime,
        poll_interval_s: Option<f64>,
    ) -> Self {
        match (transport, poll_interval_s) {
            (_, Some(interval)) => Prediction::HalfIntervalPlusTransit {
                mean_ms: interval * 1000.0 / 2.0 + delay_ms,
            },
            ("long-poll", None) if regime == Regime::BackToBack => Prediction::OverThreeTransits,
            _ => Prediction::OneTransit,
        }
    }

    /// The prediction in words.
    pub fn describe(self) -> String {
        match self {
            Prediction::OneTransit => "mean ≈ 1 transit".into(),
            Prediction::OverThreeTransits => "max > 3 transits".into(),
            Prediction::HalfIntervalPlusTransit { mean_ms } => {
                format!("mean ≈ interval/2 + d = {} ms", fmt::sig3(mean_ms))
            }
        }
    }
}

/// One row of the table: a run with an added delay.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The transport.
    pub transport: String,
    /// One-way delay added, ms.
    pub delay_ms: f64,
    /// Short-poll interval, seconds.
    pub poll_interval_s: Option<f64>,
    /// Messages per second.
    pub rate: f64,
    /// `rate × 2d`: events published per round trip.
    pub events_per_round_trip: f64,
    /// Spaced or back to back.
    pub regime: Regime,
    /// Deliveries measured.
    pub deliveries: u64,
    /// Mean, p50, p99 and max latency, ms.
    pub latency_ms: [f64; 4],
    /// The same in transits (÷ d).
    pub transits: [f64; 4],
    /// What the model predicts.
    pub prediction: Prediction,
    /// Whether the measurement agrees.
    pub agrees: bool,
    /// The verdict in words (`agrees: mean 1.04 transits`).
    pub verdict: String,
}

impl Row {
    /// The row of `run`, or `None` when the run added no delay.
    pub fn of(run: &RunResult) -> Option<Self> {
        let d = run.one_way_delay_ms.filter(|d| *d > 0.0 && d.is_finite())?;
        let events = run.publish_rate * 2.0 * d / 1000.0;
        let regime = Regime::of(events);
        let l = &run.latency_us;
        let latency_ms = [
            l.mean / 1000.0,
            l.p50 as f64 / 1000.0,
            l.p99 as f64 / 1000.0,
            l.max as f64 / 1000.0,
        ];
        let transits = latency_ms.map(|ms| ms / d);
        let prediction = Prediction::of(&run.transport, d, regime, run.poll_interval_s);
        let (agrees, verdict) = judge(prediction, l.count, latency_ms, transits);
        Some(Row {
            transport: run.transport.clone(),
            delay_ms: d,
            poll_interval_s: run.poll_interval_s,
            rate: run.publish_rate,
            events_per_round_trip: events,
            regime,
            deliveries: l.count,
            latency_ms,
            transits,
            prediction,
            agrees,
            verdict,
        })
    }

    /// The row's cells, in [`header`] order.
    pub fn cells(&self) -> Vec<String> {
        let latency = |i: usize| {
            format!(
                "{} ({})",
                fmt::sig3(self.latency_ms[i]),
                fmt::sig3(self.transits[i])
            )
        };
        vec![
            self.transport.clone(),
            fmt::axis(self.delay_ms),
            self.poll_interval_s.map_or_else(|| "-".into(), fmt::axis),
            fmt::axis(self.rate),
            fmt::sig3(self.events_per_round_trip),
            self.regime.name().into(),
            latency(0),
            latency(1),
            latency(2),
            latency(3),
            self.prediction.describe(),
            self.verdict.clone(),
        ]
    }
}

/// Column headings of the table.
pub fn header() -> Vec<String> {
    [
        "transport",
        "d (ms)",
        "poll every (s)",
        "msg/s",
        "events / round trip",
        "regime",
        "mean ms (÷d)",
        "p50 ms (÷d)",
        "p99 ms (÷d)",
        "max ms (÷d)",
        "predicted",
        "measured",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Index of the first right-aligned (numeric) column.
pub const NUMERIC_FROM: usize = 1;

fn judge(
    prediction: Prediction,
    count: u64,
    latency_ms: [f64; 4],
    transits: [f64; 4],
) -> (bool, String) {
    if count == 0 {
        return (false, "nothing delivered: no measurement".into());
    }
    let within = |measured: f64, expected: f64| (measured / expected - 1.0).abs() <= TOLERANCE;
    match prediction {
        Prediction::OneTransit => {
            let mean = transits[0];
            if within(mean, 1.0) {
                (true, format!("agrees: mean {} transits", fmt::sig3(mean)))
            } else {
                (
                    false,
                    format!(
                        "disagrees: mean {} transits, not within ±25% of 1",
                        fmt::sig3(mean)
                    ),
                )
            }
        }
        Prediction::OverThreeTransits => {
            let (mean, max) = (transits[0], transits[3]);
            if max > 3.0 {
                (
                    true,
                    format!(
                        "agrees: max {} transits (mean {})",
                        fmt::sig3(max),
                        fmt::sig3(mean)
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "disagrees: max {} transits, not over 3 (mean {})",
                        fmt::sig3(max),
                        fmt::sig3(mean)
                    ),
                )
            }
        }
        Prediction::HalfIntervalPlusTransit { mean_ms } => {
            let ratio = latency_ms[0] / mean_ms;
            if within(latency_ms[0], mean_ms) {
                (
                    true,
                    format!(
                        "agrees: mean {} ms, {} the prediction",
                        fmt::sig3(latency_ms[0]),
                        fmt::times(Some(ratio))
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "disagrees: mean {} ms, {} the prediction",
                        fmt::sig3(latency_ms[0]),
                        fmt::times(Some(ratio))
                    ),
                )
            }
        }
    }
}

/// Where a transport's rows go: push first, then long and short polling.
fn transport_rank(t: &str) -> usize {
    ["ws", "sse", "long-poll", "short-poll"]
        .iter()
        .position(|x| *x == t)
        .unwrap_or(4)
}

/// The table's rows: every run with an added delay, grouped by transport
/// (and short-poll interval), then by delay and rate. Empty when no run
/// added a delay, and then the report has no such section.
pub fn rows(runs: &[RunResult]) -> Vec<Row> {
    let mut rows: Vec<Row> = runs.iter().filter_map(Row::of).collect();
    rows.sort_by(|a, b| {
        transport_rank(&a.transport)
            .cmp(&transport_rank(&b.transport))
            .then_with(|| a.transport.cmp(&b.transport))
            .then_with(|| {
                a.poll_interval_s
                    .unwrap_or(0.0)
                    .total_cmp(&b.poll_interval_s.unwrap_or(0.0))
            })
            .then_with(|| a.delay_ms.total_cmp(&b.delay_ms))
            .then_with(|| a.rate.total_cmp(&b.rate))
    });
    rows
}

/// The claim's two halves, each checked against every long-poll row of its
/// regime, plus a line on short polling: what the table says in sentences.
pub fn conclusions(rows: &[Row]) -> Vec<String> {
    let range = |values: &[f64]| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if fmt::sig3(lo) == fmt::sig3(hi) {
            fmt::sig3(lo)
        } else {
            format!("{} to {}", fmt::sig3(lo), fmt::sig3(hi))
        }
    };
    let runs = |n: usize| format!("{n} run{}", if n == 1 { "" } else { "s" });
    let verdict = |rows: &[&Row]| {
        let agree = rows.iter().filter(|r| r.agrees).count();
        if agree == rows.len() {
            "the measurement agrees".to_string()
        } else if agree == 0 {
            "the measurement disagrees".to_string()
        } else {
            format!("{agree} of {} agree", rows.len())
        }
    };
    let measured: Vec<&Row> = rows.iter().filter(|r| r.deliveries > 0).collect();
    let mut out = Vec::new();
    let long = |regime: Regime| -> Vec<&Row> {
        measured
            .iter()
            .copied()
            .filter(|r| r.transport == "long-poll" && r.regime == regime)
            .collect()
    };
    let spaced = long(Regime::Spaced);
    if !spaced.is_empty() {
        let means: Vec<f64> = spaced.iter().map(|r| r.transits[0]).collect();
        out.push(format!(
            "Long polling, events spaced: mean {} transits over {}; RFC 6202 says about one: {}.",
            range(&means),
            runs(spaced.len()),
            verdict(&spaced)
        ));
    }
    let packed = long(Regime::BackToBack);
    if !packed.is_empty() {
        let maxes: Vec<f64> = packed.iter().map(|r| r.transits[3]).collect();
        let means: Vec<f64> = packed.iter().map(|r| r.transits[0]).collect();
        let above_one = means.iter().all(|m| *m > 1.0 + TOLERANCE);
        out.push(format!(
            "Long polling, events back to back: max {} transits over {}; RFC 6202 says more than three: {}. \
             The mean is {} transits there{}.",
            range(&maxes),
            runs(packed.len()),
            verdict(&packed),
            range(&means),
            if above_one {
                ": the average of about one transit holds for spaced events only"
            } else {
                ""
            }
        ));
    }
    let push: Vec<&Row> = measured
        .iter()
        .copied()
        .filter(|r| r.prediction == Prediction::OneTransit && r.transport != "long-poll")
        .collect();
    if !push.is_empty() {
        let means: Vec<f64> = push.iter().map(|r| r.transits[0]).collect();
        out.push(format!(
            "Push ({}): mean {} transits over {}; the model says one at any rate: {}.",
            fmt::and_list(&distinct(push.iter().map(|r| r.transport.clone()))),
            range(&means),
            runs(push.len()),
            verdict(&push)
        ));
    }
    let short: Vec<&Row> = measured
        .iter()
        .copied()
        .filter(|r| matches!(r.prediction, Prediction::HalfIntervalPlusTransit { .. }))
        .collect();
    if !short.is_empty() {
        let ratios: Vec<f64> = short
            .iter()
            .filter_map(|r| match r.prediction {
                Prediction::HalfIntervalPlusTransit { mean_ms } => Some(r.latency_ms[0] / mean_ms),
                _ => None,
            })
            .collect();
        out.push(format!(
            "Short polling: mean {}× (interval/2 + d) over {}: {}.",
            range(&ratios),
            runs(short.len()),
            verdict(&short)
        ));
    }
    out
}

fn distinct(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// The report's section: the table, its conclusions and the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// One row per delayed run.
    pub rows: Vec<Row>,
    /// [`conclusions`] of the rows.
    pub conclusions: Vec<String>,
    /// Latency against the one-way delay, per transport.
    pub chart: Chart,
}

/// The section of `runs`, or `None` when no run added a delay.
pub fn section(runs: &[RunResult]) -> Result<Option<Section>, crate::ReportError> {
    let rows = rows(runs);
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Section {
        conclusions: conclusions(&rows),
        chart: crate::charts::rtt::chart(runs)?,
        rows,
    }))
}
