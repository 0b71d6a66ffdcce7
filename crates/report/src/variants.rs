//! The "Variants side by side" section: runs of one workload (same
//! subscribers and rate) that differ by `--label` — HTTP version, header
//! profile, compression, as `scripts/http-matrix.sh` makes them — in one
//! table, and the sentences that answer "is polling still wasteful?" from
//! them: what polling costs per delivered message over HTTP/1.1 with browser
//! headers (the notes' world) and over HTTP/2 (today's), against WebSocket
//! and SSE, and an idle browser poll's bytes against Kaazing's 871.
//!
//! A result carries no HTTP version or header profile field, so both are
//! read from the label ([`World::of`]): a label naming `HTTP/2` (or `h2`,
//! `http2`) is an HTTP/2 run, any other an HTTP/1.1 one (a WebSocket's
//! handshake is always HTTP/1.1); a label naming `browser` used the browser
//! header profile, `minimal` the generator's minimal headers. Runs through
//! the delaying proxy (`one_way_delay_ms` set) belong to the round-trip
//! section and are left out here.

use crate::{fmt, RunResult};

/// The section's heading.
pub const TITLE: &str = "Variants side by side — is polling still wasteful?";

/// Kaazing's example: HTTP header bytes of one polling request and response.
pub const KAAZING_HEADER_BYTES: u64 = 871;

/// How the table is read.
pub const EXPLANATION: &str = "What the runs of one workload that differ by label (HTTP \
    version, header profile, compression) show against each other; each run is a column of \
    that workload's side-by-side table. Per delivered message: requests and bytes on the \
    subscribers' sockets, both directions. An idle poll is an empty short poll on the wire, \
    request and answer (idle bytes ÷ idle requests, from the window before publishing). HTTP \
    version and header profile are read from the label (HTTP/2 when it names HTTP/2 or h2, \
    browser headers when it names browser).";

/// The HTTP version a run spoke, read from its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    /// HTTP/1.1 (and every WebSocket handshake).
    V1,
    /// HTTP/2.
    V2,
}

/// The request headers a run sent, read from its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headers {
    /// `--header-profile browser`: a desktop browser's headers.
    Browser,
    /// The generator's minimal headers.
    Minimal,
    /// The label does not say.
    Unknown,
}

/// Where a run sits: HTTP version and header profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct World {
    /// HTTP version.
    pub http: Http,
    /// Header profile.
    pub headers: Headers,
}

impl World {
    /// The world a label names (see the module docs for the rules).
    pub fn of(label: &str) -> Self {
        let lower = label.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !(c.is_alphanumeric() || c == '/' || c == '.'))
            .filter(|w| !w.is_empty())
            .collect();
        let http = if words
            .iter()
            .any(|w| matches!(*w, "http/2" | "h2" | "http2"))
        {
            Http::V2
        } else {
            Http::V1
        };
        let headers = if words.contains(&"browser") {
            Headers::Browser
        } else if words.contains(&"minimal") {
            Headers::Minimal
        } else {
            Headers::Unknown
        };
        World { http, headers }
    }
}

/// One row of the table: one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The run's label (`-` when it has none).
    pub label: String,
    /// The transport.
    pub transport: String,
    /// HTTP version and header profile, from the label.
    pub world: World,
    /// Requests per delivered message.
    pub requests_per_delivered: Option<f64>,
    /// Bytes per delivered message.
    pub bytes_per_delivered: Option<f64>,
    /// Payload bytes ÷ bytes, per delivered message.
    pub payload_share: Option<f64>,
    /// Bytes of one idle short poll, request and answer (`None` when the
    /// run measured no idle request, and for every transport but short
    /// polling: a long poll waiting through the idle window has sent its
    /// request but has no answer yet, so its bytes are not a whole poll).
    pub idle_poll_bytes: Option<f64>,
    /// Median and 99th percentile latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Lost deliveries.
    pub lost: u64,
    /// Duplicated deliveries.
    pub duplicated: u64,
    /// Reordered deliveries.
    pub reordered: u64,
}

impl Row {
    /// The row of `run`.
    pub fn of(run: &RunResult) -> Self {
        let label = run.label.clone().unwrap_or_else(|| "-".into());
        let share = match (run.payload_bytes_per_delivered, run.bytes_per_delivered) {
            (Some(p), Some(b)) => fmt::ratio(p, b),
            _ => None,
        };
        Row {
            world: World::of(&label),
            label,
            transport: run.transport.clone(),
            requests_per_delivered: run.requests_per_delivered,
            bytes_per_delivered: run.bytes_per_delivered,
            payload_share: share,
            idle_poll_bytes: (run.poll_interval_s.is_some() && run.idle.requests > 0)
                .then(|| run.idle.bytes as f64 / run.idle.requests as f64),
            p50_us: run.latency_us.p50,
            p99_us: run.latency_us.p99,
            lost: run.lost,
            duplicated: run.duplicated,
            reordered: run.reordered,
        }
    }

    /// The row's cells, in [`header`] order.
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.label.clone(),
            self.transport.clone(),
            fmt::opt(self.requests_per_delivered),
            fmt::opt(self.bytes_per_delivered),
            fmt::percent(self.payload_share),
            fmt::opt(self.idle_poll_bytes),
            format!("{} / {}", fmt::ms(self.p50_us), fmt::ms(self.p99_us)),
            fmt::thousands(self.lost),
            fmt::thousands(self.duplicated),
            fmt::thousands(self.reordered),
        ]
    }

    fn is_polling(&self) -> bool {
        matches!(self.transport.as_str(), "long-poll" | "short-poll")
    }
}

/// Column headings of the table.
pub fn header() -> Vec<String> {
    [
        "label",
        "transport",
        "requests / delivered",
        "bytes / delivered",
        "payload share",
        "idle poll (B)",
        "p50 / p99 (ms)",
        "lost",
        "dup",
        "reordered",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Index of the first right-aligned (numeric) column.
pub const NUMERIC_FROM: usize = 2;

/// One workload's variants.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Subscribers of every run.
    pub subscribers: u64,
    /// Messages per second of every run.
    pub rate: f64,
    /// One row per run, in input order.
    pub rows: Vec<Row>,
    /// [`conclusions`] of the rows.
    pub conclusions: Vec<String>,
}

impl Group {
    /// `200 subscribers, 5 msg/s`.
    pub fn title(&self) -> String {
        format!(
            "{} subscribers, {} msg/s",
            fmt::thousands(self.subscribers),
            fmt::axis(self.rate)
        )
    }
}

/// The section: every workload with variants, and the headline line.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Workloads with two or more labels, in input order.
    pub groups: Vec<Group>,
    /// The line for the report's headlines (from the first group).
    pub headline: String,
}

/// The section of `runs`, or `None` when no workload has two or more runs
/// that differ by label.
pub fn section(runs: &[RunResult]) -> Option<Section> {
    let mut keys: Vec<(u64, u64)> = Vec::new();
    let mut members: Vec<Vec<&RunResult>> = Vec::new();
    for run in runs.iter().filter(|r| r.one_way_delay_ms.is_none()) {
        let key = (run.subscribers, run.publish_rate.to_bits());
        match keys.iter().position(|k| *k == key) {
            Some(i) => members[i].push(run),
            None => {
                keys.push(key);
                members.push(vec![run]);
            }
        }
    }
    let groups: Vec<Group> = members
        .into_iter()
        .filter(|runs| {
            let mut labels: Vec<&str> = runs.iter().filter_map(|r| r.label.as_deref()).collect();
            labels.sort_unstable();
            labels.dedup();
            labels.len() >= 2
        })
        .map(|runs| {
            let rows: Vec<Row> = runs.iter().map(|r| Row::of(r)).collect();
            Group {
                subscribers: runs[0].subscribers,
                rate: runs[0].publish_rate,
                conclusions: conclusions(&rows),
                rows,
            }
        })
        .collect();
    let first = groups.first()?;
    let headline = headline(&first.rows).unwrap_or_else(|| {
        format!(
            "{} variants of {} compared side by side.",
            first.rows.len(),
            first.title()
        )
    });
    Some(Section { groups, headline })
}

/// A run's name in a sentence: its label, with its transport in front
/// unless the label names it already (`compare`'s labels do not).
fn quoted(row: &Row) -> String {
    if row.label.starts_with(&row.transport) {
        format!("“{}”", row.label)
    } else {
        format!("“{}, {}”", row.transport, row.label)
    }
}

fn bytes(x: Option<f64>) -> String {
    format!("{} B", fmt::opt(x))
}

/// `R requests and B B per delivered message`.
fn cost(row: &Row) -> String {
    format!(
        "{} requests and {} per delivered message",
        fmt::opt(row.requests_per_delivered),
        bytes(row.bytes_per_delivered)
    )
}

fn ratio(a: &Row, b: &Row) -> Option<f64> {
    fmt::ratio(a.bytes_per_delivered?, b.bytes_per_delivered?)
}

/// The browser-header WebSocket run the polling runs are held against (its
/// handshake is HTTP/1.1 in both worlds).
fn websocket(rows: &[Row]) -> Option<&Row> {
    rows.iter()
        .find(|r| r.transport == "ws" && r.world.headers == Headers::Browser)
}

fn browser_polling(rows: &[Row], http: Http) -> Vec<&Row> {
    rows.iter()
        .filter(|r| {
            r.is_polling()
                && r.world.headers == Headers::Browser
                && r.world.http == http
                && r.bytes_per_delivered.is_some()
        })
        .collect()
}

fn range(values: &[f64]) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if fmt::sig3(lo) == fmt::sig3(hi) {
        fmt::times(Some(lo))
    } else {
        format!("{} to {}", fmt::times(Some(lo)), fmt::times(Some(hi)))
    }
}

/// The headline: browser polling's bytes per delivered message as a
/// multiple of WebSocket's, in each world that has runs; `None` without a
/// browser WebSocket run or browser polling runs.
fn headline(rows: &[Row]) -> Option<String> {
    let ws = websocket(rows)?;
    let world = |http: Http| -> Option<String> {
        let ratios: Vec<f64> = browser_polling(rows, http)
            .into_iter()
            .filter_map(|r| ratio(r, ws))
            .collect();
        (!ratios.is_empty()).then(|| range(&ratios))
    };
    match (world(Http::V1), world(Http::V2)) {
        (Some(h1), Some(h2)) => Some(format!(
            "With browser headers, polling costs {h1} WebSocket's bytes per delivered message \
             over HTTP/1.1 (the notes' world) and {h2} over HTTP/2 (today's)."
        )),
        (Some(h1), None) => Some(format!(
            "With browser headers, polling costs {h1} WebSocket's bytes per delivered message \
             over HTTP/1.1 (the notes' world)."
        )),
        (None, Some(h2)) => Some(format!(
            "With browser headers, polling costs {h2} WebSocket's bytes per delivered message \
             over HTTP/2 (today's)."
        )),
        (None, None) => None,
    }
}

/// What the table says in sentences, each stated only when the runs it
/// needs are there: browser polling against WebSocket over HTTP/1.1 and
/// over HTTP/2, an idle browser poll against Kaazing's 871 bytes, and
/// WebSocket and SSE in both worlds.
pub fn conclusions(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    let ws = websocket(rows);
    let polling_line = |r: &Row| -> String {
        let versus = ws
            .and_then(|w| ratio(r, w))
            .map(|x| format!(" ({} WebSocket's bytes)", fmt::times(Some(x))))
            .unwrap_or_default();
        format!("{} {}{}", quoted(r), cost(r), versus)
    };
    if let Some(ws) = ws {
        for (http, words) in [
            (
                Http::V1,
                "over HTTP/1.1 with browser headers (the notes' world)",
            ),
            (Http::V2, "over HTTP/2 with browser headers (today's)"),
        ] {
            let polls = browser_polling(rows, http);
            if polls.is_empty() {
                continue;
            }
            let lines: Vec<String> = polls.iter().map(|r| polling_line(r)).collect();
            out.push(format!(
                "Polling {words} costs: {}; WebSocket ({}) {}.",
                lines.join("; "),
                quoted(ws),
                cost(ws)
            ));
        }
    }

    let idle: Vec<String> = [(Http::V1, "HTTP/1.1"), (Http::V2, "HTTP/2")]
        .into_iter()
        .filter_map(|(http, name)| {
            let polls: Vec<String> = rows
                .iter()
                .filter(|r| r.world.headers == Headers::Browser && r.world.http == http)
                .filter_map(|r| {
                    r.idle_poll_bytes
                        .map(|b| format!("{} ({})", bytes(Some(b)), quoted(r)))
                })
                .collect();
            (!polls.is_empty()).then(|| format!("over {name} {}", fmt::and_list(&polls)))
        })
        .collect();
    if !idle.is_empty() {
        out.push(format!(
            "An idle browser poll, request and answer, is {} on the wire (headers and \
             body), against Kaazing's {KAAZING_HEADER_BYTES} B of headers per request and response.",
            idle.join("; ")
        ));
    }

    let push: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            matches!(r.transport.as_str(), "ws" | "sse") && r.world.headers == Headers::Browser
        })
        .collect();
    let has = |t: &str| push.iter().any(|r| r.transport == t);
    if has("ws") && has("sse") {
        let lines: Vec<String> = push
            .iter()
            .map(|r| format!("{} {}", quoted(r), cost(r)))
            .collect();
        out.push(format!(
            "WebSocket and SSE with browser headers: {}.",
            lines.join("; ")
        ));
    }
    out
}
