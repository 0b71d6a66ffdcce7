//! The side-by-side table: one per workload, one column per run under it
//! (every transport, every short-poll interval, every variant), one row per
//! figure BACKGROUND.md defines, and headline ratios computed from the same
//! results. A table's heading names what its runs share; a column's name
//! adds only what tells it apart from the table's other columns.

use crate::{fmt, table::Table, RunResult};

type Cell = fn(&RunResult) -> String;

/// Rows of the table: label and how to compute the cell.
const ROWS: &[(&str, Cell)] = &[
    ("latency p50 (ms)", |r| fmt::ms(r.latency_us.p50)),
    ("latency p99 (ms)", |r| fmt::ms(r.latency_us.p99)),
    ("latency max (ms)", |r| fmt::ms(r.latency_us.max)),
    ("requests / delivered", |r| {
        fmt::opt(r.requests_per_delivered)
    }),
    ("  empty polls", |r| fmt::thousands(r.empty_polls)),
    ("bytes / delivered", |r| fmt::opt(r.bytes_per_delivered)),
    ("  payload share", |r| {
        fmt::percent(
            r.payload_bytes_per_delivered
                .zip(r.bytes_per_delivered)
                .and_then(|(p, b)| fmt::ratio(p, b)),
        )
    }),
    ("sender requests / sent message", |r| {
        fmt::opt(r.sender.and_then(|s| s.requests_per_sent))
    }),
    ("sender bytes up / sent message", |r| {
        fmt::opt(r.sender.and_then(|s| s.bytes_up_per_sent))
    }),
    ("  sender bytes down / sent message", |r| {
        fmt::opt(r.sender.and_then(|s| s.bytes_down_per_sent))
    }),
    ("server CPU µs / delivered", |r| {
        fmt::opt(r.server_cpu_us_per_delivered)
    }),
    ("generator CPU µs / delivered", |r| {
        fmt::opt(r.generator_cpu_us_per_delivered)
    }),
    ("server + generator CPU µs / delivered", |r| {
        fmt::opt(r.total_cpu_us_per_delivered)
    }),
    ("idle requests / sub-minute", |r| {
        fmt::opt(r.idle.requests_per_subscriber_minute)
    }),
    ("idle bytes / sub-minute", |r| {
        fmt::opt(r.idle.bytes_per_subscriber_minute)
    }),
    ("delivered / expected", |r| {
        format!(
            "{}/{}",
            fmt::thousands(r.delivered),
            fmt::thousands(r.expected_deliveries)
        )
    }),
    ("  unsent (publish refused) / planned", |r| {
        format!(
            "{}/{}",
            fmt::thousands(r.unsent),
            fmt::thousands(r.planned())
        )
    }),
    ("lost / dup / reordered", |r| {
        format!("{}/{}/{}", r.lost, r.duplicated, r.reordered)
    }),
    ("errors", |r| fmt::thousands(r.errors.values().sum())),
];

/// One row of the side-by-side table, shared by the text, Markdown and HTML
/// renderings so they always show the same figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What the row shows, e.g. `latency p99 (ms)`.
    pub label: &'static str,
    /// A detail of the row above it (drawn indented).
    pub sub: bool,
    /// One cell per run, in the order of the runs.
    pub cells: Vec<String>,
}

/// The rows of the side-by-side table of `results`.
pub fn rows(results: &[RunResult]) -> Vec<Row> {
    ROWS.iter()
        .map(|(label, cell)| {
            let sub = label.starts_with(' ');
            Row {
                label: label.trim_start(),
                sub,
                cells: results.iter().map(cell).collect(),
            }
        })
        .collect()
}

/// The line under the table saying how long the idle cost was measured, if
/// it was.
pub fn idle_note(results: &[RunResult]) -> Option<String> {
    let idle_window = results.iter().map(|r| r.idle.window_s).fold(0.0, f64::max);
    (idle_window > 0.0).then(|| {
        format!(
            "idle cost measured over {}s with every subscriber connected and nothing published",
            fmt::sig3(idle_window)
        )
    })
}

/// The table, with the workload described on the first line.
pub fn render(results: &[RunResult]) -> String {
    let mut out = String::new();
    if !results.is_empty() {
        out.push_str(&heading(results));
        out.push('\n');
    }
    let mut t = Table::new(std::iter::once(String::new()).chain(column_names(results)));
    for row in rows(results) {
        let label = if row.sub {
            format!("  {}", row.label)
        } else {
            row.label.to_string()
        };
        t.row(std::iter::once(label).chain(row.cells));
    }
    out.push_str(&t.render());
    if let Some(note) = idle_note(results) {
        out.push_str(&note);
        out.push('\n');
    }
    for note in wire_notes(results) {
        out.push_str(&note);
        out.push('\n');
    }
    out
}

/// One line per WebSocket run with a byte breakdown: payload, framing and
/// control frames apart, then TCP/IP's headers from the kernel's counters.
pub fn wire_notes(results: &[RunResult]) -> Vec<String> {
    results
        .iter()
        .filter_map(|r| {
            let w = r.wire.as_ref()?;
            let n = w.data_frames as f64;
            if n == 0.0 {
                return None;
            }
            let mut line = format!(
                "{} on the wire, per message: {} B payload + {} B framing ({}) = {} B; \
                 control frames {} B in all (pings and pongs, apart)",
                r.transport,
                fmt::sig3(w.payload_bytes as f64 / n),
                fmt::sig3(w.framing_bytes as f64 / n),
                fmt::percent(w.framing_over_payload),
                fmt::opt(w.bytes_per_message),
                fmt::thousands(w.control_bytes),
            );
            // Signed, as measured: negative when the socket moved less
            // than payload + framing (permessage-deflate).
            if w.other_bytes != 0 {
                let sign = if w.other_bytes > 0 { "+" } else { "−" };
                line.push_str(&format!(
                    ", socket {sign}{} B beyond these",
                    fmt::thousands(w.other_bytes.unsigned_abs())
                ));
            }
            if let Some(s) = w.socket_bytes_per_message {
                line.push_str(&format!(
                    "; the socket measured {} B a message",
                    fmt::sig3(s)
                ));
            }
            if let Some(d) = w.deflate_negotiated {
                // Payload and framing above are inflated; the socket's
                // bytes (bytes per delivered message) are compressed.
                line.push_str(&format!(
                    "; permessage-deflate: negotiated by {} of {} (payload and framing \
                     counted inflated, socket bytes compressed)",
                    fmt::thousands(d),
                    fmt::thousands(r.subscribers_connected),
                ));
            }
            if let Some(t) = &w.tcp {
                line.push_str(&format!(
                    "; TCP/IP (TCP_INFO): {} segments in + {} out per message, \
                     ≈ {} B of IP+TCP headers at {} B a segment",
                    fmt::sig3(t.segments_in as f64 / n),
                    fmt::sig3(t.segments_out as f64 / n),
                    fmt::opt(t.header_bytes_per_message),
                    t.header_bytes_per_segment,
                ));
            }
            Some(line)
        })
        .collect()
}

/// Splits runs into side-by-side tables: one per workload (subscribers,
/// rate, publishing time, payload and added delay), each holding every run
/// under it in input order: every transport, each short-poll interval and
/// every variant (a label) as a column of its own. A run is in one table
/// only.
pub fn groups(results: &[RunResult]) -> Vec<Vec<RunResult>> {
    let key = |r: &RunResult| {
        (
            r.subscribers,
            r.publish_rate.to_bits(),
            r.duration_s.to_bits(),
            r.payload_bytes,
            r.one_way_delay_ms.map(f64::to_bits),
        )
    };
    let mut out: Vec<Vec<RunResult>> = Vec::new();
    for r in results {
        match out.iter_mut().find(|g| key(&g[0]) == key(r)) {
            Some(g) => g.push(r.clone()),
            None => out.push(vec![r.clone()]),
        }
    }
    out
}

/// The label most runs of a table share (the plain runs'; the first such
/// on a tie), which its heading names once instead of every column; none
/// when no two runs share one (a table of one run: its label).
pub fn common_label(runs: &[RunResult]) -> Option<&str> {
    if let [only] = runs {
        return only.label.as_deref();
    }
    let mut best: Option<(&Option<String>, usize)> = None;
    for r in runs {
        let n = runs.iter().filter(|x| x.label == r.label).count();
        if n >= 2 && best.is_none_or(|(_, m)| n > m) {
            best = Some((&r.label, n));
        }
    }
    best.and_then(|(l, _)| l.as_deref())
}

/// The runs of a table that are not variants: those with its common label,
/// one per transport (the first), as the per-transport charts show them.
pub fn plain_runs(runs: &[RunResult]) -> Vec<RunResult> {
    let common = common_label(runs);
    let mut out: Vec<RunResult> = Vec::new();
    for r in runs.iter().filter(|r| r.label.as_deref() == common) {
        if !out.iter().any(|x| x.transport == r.transport) {
            out.push(r.clone());
        }
    }
    out
}

/// Each run's column name: its transport, then its label where that is not
/// the table's common label, then its poll interval where short-poll runs
/// of the same label differ in it.
pub fn column_names(runs: &[RunResult]) -> Vec<String> {
    let common = common_label(runs);
    runs.iter()
        .map(|r| {
            let mut name = r.transport.clone();
            match &r.label {
                // A label that names its transport (scripts/http-matrix.sh's)
                // is the whole name.
                Some(l) if r.label.as_deref() != common && l.starts_with(&r.transport) => {
                    name = l.clone();
                }
                Some(l) if r.label.as_deref() != common => name.push_str(&format!(", {l}")),
                _ => {}
            }
            if let Some(i) = r.poll_interval_s {
                let differs = runs.iter().any(|x| {
                    x.transport == r.transport
                        && x.label == r.label
                        && x.poll_interval_s.is_some_and(|j| j != i)
                });
                if differs {
                    name.push_str(&format!(" every {}s", fmt::axis(i)));
                }
            }
            name
        })
        .collect()
}

/// The heading of a table: everything its runs share, the short-poll
/// interval and long-poll hold included where all of its runs that have
/// one share it, and the common label in brackets.
pub fn heading(runs: &[RunResult]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let shared = |f: fn(&RunResult) -> Option<f64>| {
        let mut values = runs.iter().filter_map(f);
        let v = values.next()?;
        values.all(|x| x == v).then_some(v)
    };
    let mut line = first.clone();
    line.poll_interval_s = shared(|r| r.poll_interval_s);
    line.long_poll_wait_s = shared(|r| r.long_poll_wait_s);
    line.label = common_label(runs).map(str::to_string);
    let mut heading = workload_line(&line);
    // The idle window is part of the workload too (a quiet chat has one, a
    // busy one may not): named where there was one.
    let idle = runs.iter().map(|r| r.idle.window_s).fold(0.0, f64::max);
    if idle > 0.0 {
        let at = heading.find(" [").unwrap_or(heading.len());
        heading.insert_str(at, &format!(", {}s idle first", fmt::axis(idle)));
    }
    heading
}

/// One line describing the workload the results share.
pub fn workload_line(r: &RunResult) -> String {
    let mut s = format!(
        "{} subscribers, {} msg/s for {}s, {}-byte payloads",
        fmt::thousands(r.subscribers),
        fmt::axis(r.publish_rate),
        fmt::axis(r.duration_s),
        r.payload_bytes
    );
    if let Some(i) = r.poll_interval_s {
        s.push_str(&format!(", short poll every {}s", fmt::axis(i)));
    }
    if let Some(w) = r.long_poll_wait_s {
        s.push_str(&format!(", long poll wait {}s", fmt::axis(w)));
    }
    if let Some(label) = &r.label {
        s.push_str(&format!(" [{label}]"));
    }
    s
}

/// Whether a run's transport is a WebSocket one: pushpoll's `ws`, or a
/// protocol's WebSocket mode in `compare --url` (`bayeux:websocket`,
/// `socket.io:websocket`, `sockjs:websocket`).
pub fn is_websocket(transport: &str) -> bool {
    transport == "ws" || transport.ends_with(":websocket")
}

/// Headline ratios against the WebSocket run, e.g. "short-poll: 24× the
/// bytes and 190× the requests per delivered message of ws". Empty when
/// there is no WebSocket run or nothing to compare.
pub fn headlines(results: &[RunResult]) -> Vec<String> {
    let names = column_names(results);
    let Some(ws_at) = results.iter().position(|r| is_websocket(&r.transport)) else {
        return Vec::new();
    };
    let ws = &results[ws_at];
    results
        .iter()
        .zip(&names)
        .enumerate()
        .filter(|(i, _)| *i != ws_at)
        .filter_map(|(_, (r, name))| {
            let bytes = r.bytes_per_delivered.zip(ws.bytes_per_delivered)?;
            let reqs = r.requests_per_delivered.zip(ws.requests_per_delivered)?;
            Some(format!(
                "{}: {}× the bytes and {}× the requests per delivered message of {}; p99 latency {} ms vs {} ms",
                name,
                fmt::opt(fmt::ratio(bytes.0, bytes.1)),
                fmt::opt(fmt::ratio(reqs.0, reqs.1)),
                ws.transport,
                fmt::ms(r.latency_us.p99),
                fmt::ms(ws.latency_us.p99),
            ))
        })
        .collect()
}
