//! Correctness of every run: lost, duplicated and reordered messages, shown
//! as numbers (a zero is printed as `0`, never left blank) with a warning
//! for every run where one of them is not zero.

use crate::{fmt, ReportInput, RunResult};

/// Column headers of the correctness table.
pub const HEADER: [&str; 11] = [
    "input",
    "transport",
    "workload",
    "url",
    "delivered / expected",
    "unsent",
    "lost",
    "duplicated",
    "reordered",
    "unexpected",
    "errors",
];

/// One run's correctness figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Which input (1-based, in the order given).
    pub input: usize,
    /// The transport.
    pub transport: String,
    /// The workload in a few words.
    pub workload: String,
    /// The URL the run targeted.
    pub url: String,
    /// Deliveries that arrived.
    pub delivered: u64,
    /// Deliveries expected.
    pub expected: u64,
    /// Planned deliveries whose publish the server refused or never got.
    pub unsent: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Deliveries that arrived more than once.
    pub duplicated: u64,
    /// Deliveries that arrived out of order.
    pub reordered: u64,
    /// Arrivals of messages whose publish was never acknowledged.
    pub unexpected: u64,
    /// Errors the run counted, all kinds together.
    pub errors: u64,
}

impl Row {
    fn new(input: usize, r: &RunResult) -> Self {
        Row {
            input,
            transport: r.transport.clone(),
            workload: workload(r),
            url: r.url.clone(),
            delivered: r.delivered,
            expected: r.expected_deliveries,
            unsent: r.unsent,
            lost: r.lost,
            duplicated: r.duplicated,
            reordered: r.reordered,
            unexpected: r.unexpected,
            errors: r.errors.values().sum(),
        }
    }

    /// Whether the run lost, duplicated or reordered anything, or left
    /// planned deliveries unsent.
    pub fn is_wrong(&self) -> bool {
        self.lost > 0 || self.unsent > 0 || self.duplicated > 0 || self.reordered > 0
    }

    /// The cells, in the order of [`HEADER`].
    pub fn cells(&self) -> Vec<String> {
        vec![
            self.input.to_string(),
            self.transport.clone(),
            self.workload.clone(),
            self.url.clone(),
            format!(
                "{}/{}",
                fmt::thousands(self.delivered),
                fmt::thousands(self.expected)
            ),
            fmt::thousands(self.unsent),
            fmt::thousands(self.lost),
            fmt::thousands(self.duplicated),
            fmt::thousands(self.reordered),
            fmt::thousands(self.unexpected),
            fmt::thousands(self.errors),
        ]
    }
}

/// `200 subscribers, 5.00 msg/s, poll every 1.00 s`.
fn workload(r: &RunResult) -> String {
    let mut s = format!(
        "{} subscribers, {} msg/s",
        fmt::thousands(r.subscribers),
        fmt::sig3(r.publish_rate)
    );
    if let Some(i) = r.poll_interval_s {
        s.push_str(&format!(", poll every {} s", fmt::sig3(i)));
    }
    s
}

/// One row per run of every input, in order.
pub fn rows(inputs: &[ReportInput]) -> Vec<Row> {
    inputs
        .iter()
        .enumerate()
        .flat_map(|(i, input)| input.runs.iter().map(move |r| Row::new(i + 1, r)))
        .collect()
}

/// One warning per run that lost, duplicated or reordered messages.
pub fn warnings(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.is_wrong())
        .map(|r| {
            let unsent = if r.unsent > 0 {
                format!(
                    "{} unsent (the server refused or never got the publish), ",
                    fmt::thousands(r.unsent)
                )
            } else {
                String::new()
            };
            format!(
                "input {}, {} ({}): {unsent}{} lost, {} duplicated, {} reordered of {} expected deliveries",
                r.input,
                r.transport,
                r.workload,
                fmt::thousands(r.lost),
                fmt::thousands(r.duplicated),
                fmt::thousands(r.reordered),
                fmt::thousands(r.expected)
            )
        })
        .collect()
}

/// One sentence over all runs: every message exactly once and in order, or
/// how many runs did not manage it.
pub fn verdict(rows: &[Row]) -> String {
    let wrong = rows.iter().filter(|r| r.is_wrong()).count();
    let (lost, dup, reordered) = rows.iter().fold((0, 0, 0), |(l, d, o), r| {
        (l + r.lost, d + r.duplicated, o + r.reordered)
    });
    if wrong == 0 {
        format!(
            "Every run ({}) delivered every expected message exactly once and in order: \
             0 lost, 0 duplicated, 0 reordered.",
            rows.len()
        )
    } else {
        format!(
            "Warning: {wrong} of {} runs lost, duplicated or reordered messages \
             ({} lost, {} duplicated, {} reordered in all); their other figures describe a \
             transport that did not do its job.",
            rows.len(),
            fmt::thousands(lost),
            fmt::thousands(dup),
            fmt::thousands(reordered)
        )
    }
}
