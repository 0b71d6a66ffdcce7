//! The report: every input's command line and machine, the charts with
//! their readings, the side-by-side tables, projections and correctness,
//! written as `report.md`, a self-contained `report.html` (every chart
//! inline, no external asset, font or script) and one `.svg` per chart.
//!
//! [`build`] computes everything once; the Markdown and HTML renderings only
//! lay the same [`Report`] out, so they can never disagree.

use crate::charts::{self, sweep::Axis, Chart, Omitted};
use crate::{
    compare, correctness, fmt, rtt, variants, verdict, MachineFacts, ReportError, ReportInput,
    RunResult,
};

/// A chart slot of the report: drawn, or left out with the reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// The chart.
    Drawn(Chart),
    /// Why it is not there.
    Omitted(Omitted),
}

/// One side-by-side table: the runs of one input under one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Which input (1-based).
    pub input: usize,
    /// Its runs, one per transport.
    pub runs: Vec<RunResult>,
}

/// Everything the report shows, computed from the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The inputs, in the order given.
    pub inputs: Vec<ReportInput>,
    /// Every side-by-side table (per input, per workload of a sweep).
    pub groups: Vec<Group>,
    /// Index into `groups` of the workload the per-transport charts show:
    /// of those with the most transports, the one that delivered most.
    pub reference: usize,
    /// The charts in order, drawn or omitted.
    pub figures: Vec<Figure>,
    /// Correctness of every run.
    pub correctness: Vec<correctness::Row>,
    /// RFC 6202's claims beside the runs with an added network delay; `None`
    /// when no run added one.
    pub rtt: Option<rtt::Section>,
    /// Runs of one workload that differ by label, side by side; `None` when
    /// no workload has two or more labels.
    pub variants: Option<variants::Section>,
    /// What the report opens with; `None` when no workload has two
    /// transports to compare.
    pub verdict: Option<verdict::Verdict>,
}

impl Report {
    /// The drawn charts, in order (the verdict's first, the round-trip
    /// section's last).
    pub fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.verdict
            .iter()
            .filter_map(|v| v.chart.as_ref())
            .chain(self.figures.iter().filter_map(|f| match f {
                Figure::Drawn(c) => Some(c),
                Figure::Omitted(_) => None,
            }))
            .chain(self.rtt.as_ref().map(|s| &s.chart))
    }

    /// The group the per-transport charts show.
    pub fn reference_group(&self) -> &Group {
        &self.groups[self.reference]
    }

    /// The lines a reader should see first: correctness, the variants'
    /// headline when there are variants, then each chart's reading.
    pub fn headlines(&self) -> Vec<(String, String)> {
        std::iter::once((
            "Correctness".to_string(),
            correctness::verdict(&self.correctness),
        ))
        .chain(
            self.variants
                .as_ref()
                .map(|v| (variants::TITLE.to_string(), v.headline.clone())),
        )
        .chain(self.charts().map(|c| (c.title.clone(), c.reading.clone())))
        .collect()
    }
}

/// Computes the report of `inputs`.
pub fn build(inputs: &[ReportInput]) -> Result<Report, ReportError> {
    let groups: Vec<Group> = inputs
        .iter()
        .enumerate()
        .flat_map(|(i, input)| {
            compare::groups(&input.runs)
                .into_iter()
                .filter(|g| !g.is_empty())
                .map(move |runs| Group { input: i + 1, runs })
        })
        .collect();
    if groups.is_empty() {
        return Err(ReportError::NoRuns);
    }
    // The workload with the most transports; of those, the one that
    // delivered most (its percentiles and byte shares rest on most data).
    let transports = |g: &Group| compare::plain_runs(&g.runs).len();
    let delivered = |g: &Group| g.runs.iter().map(|r| r.delivered).sum::<u64>();
    let most = groups.iter().map(transports).max().unwrap_or(0);
    let reference = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| transports(g) == most)
        .max_by(|(i, a), (j, b)| delivered(a).cmp(&delivered(b)).then(j.cmp(i)))
        .map_or(0, |(i, _)| i);
    let runs = &compare::plain_runs(&groups[reference].runs);
    let all_runs: Vec<RunResult> = inputs.iter().flat_map(|i| i.runs.clone()).collect();

    let mut figures = vec![
        Figure::Drawn(charts::paths::chart(runs)?),
        Figure::Drawn(charts::latency::chart(runs)?),
        Figure::Drawn(charts::requests::chart(runs)?),
        Figure::Drawn(charts::bytes::chart(runs)?),
    ];
    for axis in [Axis::Subscribers, Axis::Rate] {
        figures.push(match charts::sweep::chart(&all_runs, axis)? {
            Some(chart) => Figure::Drawn(chart),
            None => Figure::Omitted(charts::sweep::omitted(axis)),
        });
    }
    figures.push(Figure::Drawn(charts::idle::chart(runs)?));
    figures.push(Figure::Drawn(charts::projection::chart(runs)?));
    figures.push(Figure::Drawn(charts::cpu::chart(runs)?));
    // Over time, from the runs' timelines (none in older documents: no chart).
    for chart in [
        charts::over_time::deliveries(runs)?,
        charts::timeline::from_runs(runs)?,
    ]
    .into_iter()
    .flatten()
    {
        figures.push(Figure::Drawn(chart));
    }
    let rtt = rtt::section(&all_runs)?;
    let variants = variants::section(&all_runs);
    let tables: Vec<Vec<RunResult>> = groups.iter().map(|g| g.runs.clone()).collect();
    let verdict = verdict::verdict(&tables)?;

    Ok(Report {
        inputs: inputs.to_vec(),
        groups,
        reference,
        figures,
        correctness: correctness::rows(inputs),
        rtt,
        variants,
        verdict,
    })
}

/// The file name of a chart.
pub fn svg_file(id: &str) -> String {
    format!("{id}.svg")
}

/// A command line as a person would type it: arguments with spaces or shell
/// metacharacters in single quotes.
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `2 CPUs (AMD EPYC), 23.5 GiB memory, kernel 6.18.44, linux-x86_64`.
pub fn describe_machine(m: Option<&MachineFacts>) -> String {
    let Some(m) = m else {
        return "not recorded".into();
    };
    let mut parts = Vec::new();
    match (m.cpus, &m.cpu_model) {
        (Some(n), Some(model)) => parts.push(format!("{n} CPUs ({model})")),
        (Some(n), None) => parts.push(format!("{n} CPUs")),
        (None, Some(model)) => parts.push(model.clone()),
        (None, None) => {}
    }
    if let Some(bytes) = m.memory_bytes {
        parts.push(format!(
            "{} GiB memory",
            fmt::sig3(bytes as f64 / 1_073_741_824.0)
        ));
    }
    if let Some(k) = &m.kernel {
        parts.push(format!("kernel {k}"));
    }
    if let Some(os) = &m.os {
        parts.push(os.clone());
    }
    if parts.is_empty() {
        "not recorded".into()
    } else {
        parts.join(", ")
    }
}

/// `compare, pushpoll 0.1.0, started 2026-11-25 05:53 UTC`.
pub fn describe_run(input: &ReportInput) -> String {
    let mut parts = Vec::new();
    if !input.command.is_empty() {
        parts.push(format!("pushpoll {}", input.command));
    }
    if let Some(v) = &input.pushpoll_version {
        parts.push(format!("version {v}"));
    }
    if let Some(t) = input.started_unix_s {
        parts.push(format!("started {}", fmt::utc(t)));
    }
    parts.push(format!(
        "{} run{}",
        input.runs.len(),
        if input.runs.len() == 1 { "" } else { "s" }
    ));
    parts.join(", ")
}

/// The input's name in headings: its file name, or its number.
pub fn input_name(index: usize, input: &ReportInput) -> String {
    input.source.as_ref().map_or_else(
        || format!("input {index}"),
        |p| format!("input {index}: {}", p.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        let argv: Vec<String> = ["pushpoll", "load", "--url", "http://a b/", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shell_join(&argv),
            r"pushpoll load --url 'http://a b/' 'it'\''s'"
        );
    }
}
