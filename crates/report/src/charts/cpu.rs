//! Chart 7: server CPU per delivered message per transport, and whether this
//! run's numbers confirm what Bozdag, Mesbah and van Deursen (2007) found in
//! their server: push cost about 7× the server CPU of pull.

use super::{bars_linear, color, render, workload_phrase, Bar, Chart};
use crate::{fmt, ReportError, RunResult};

/// The chart's id.
pub const ID: &str = "cpu";

/// Bozdag et al.'s push-to-pull server CPU ratio (2007), as BACKGROUND.md
/// quotes it.
pub const BOZDAG_PUSH_OVER_PULL: f64 = 7.0;

/// A push-to-pull ratio at least this large counts as confirming their
/// finding (push several times pull's CPU); below it, the finding does not
/// hold on this run.
pub const CONFIRM_AT: f64 = BOZDAG_PUSH_OVER_PULL / 2.0;

/// Draws the chart for runs of one workload.
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let title = format!(
        "Server CPU per delivered message ({})",
        workload_phrase(runs)
    );
    let bars: Vec<Bar> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Bar {
            name: r.transport.clone(),
            parts: vec![(
                r.server_cpu_us_per_delivered.unwrap_or(0.0),
                color(&r.transport, i),
            )],
            label: r
                .server_cpu_us_per_delivered
                .map_or_else(|| "not measured".into(), |v| format!("{} µs", fmt::sig3(v))),
        })
        .collect();
    let svg = render(ID, &title, |root| {
        bars_linear(
            root,
            ID,
            &title,
            "server CPU µs per delivered message",
            &bars,
            &fmt::axis,
            &[],
        )
    })?;
    Ok(Chart {
        id: ID,
        title,
        reading: reading(runs),
        svg,
    })
}

/// The Bozdag check in words: each push transport's server CPU per
/// delivered message against short polling's (pull), and the verdict.
pub fn reading(runs: &[RunResult]) -> String {
    let cpu = |r: &RunResult| r.server_cpu_us_per_delivered.filter(|v| *v > 0.0);
    let claim = format!(
        "Bozdag et al. (2007) found push cost about {BOZDAG_PUSH_OVER_PULL}× the server CPU of pull in their server"
    );
    let Some((pull, pull_cpu)) = runs
        .iter()
        .find(|r| r.transport == "short-poll")
        .and_then(|r| Some((r, cpu(r)?)))
    else {
        return format!(
            "{claim}; these runs cannot check it: that needs a short-poll run (pull) with the \
             server's CPU measured, which pushpoll knows when the server runs in-process \
             (pushpoll compare)."
        );
    };
    let pushes: Vec<(&RunResult, f64)> = runs
        .iter()
        .filter(|r| r.transport != pull.transport)
        .filter_map(|r| Some((r, fmt::ratio(cpu(r)?, pull_cpu)?)))
        .collect();
    if pushes.is_empty() {
        return format!(
            "{claim}; these runs cannot check it: no push transport has its server CPU measured."
        );
    }
    let parts: Vec<String> = pushes
        .iter()
        .map(|(r, ratio)| {
            let note = if r.transport == "long-poll" {
                " (a held request, like the Comet push their server used)"
            } else {
                ""
            };
            format!(
                "{}{note} {} µs ({})",
                r.transport,
                fmt::opt(cpu(r)),
                fmt::times(Some(*ratio))
            )
        })
        .collect();
    let highest = pushes.iter().map(|p| p.1).fold(0.0, f64::max);
    let verdict = if highest >= CONFIRM_AT {
        format!(
            "push costs up to {} pull's server CPU here too, so this run confirms it",
            fmt::times(Some(highest))
        )
    } else if highest < 1.0 {
        "every push transport costs less server CPU per delivered message than polling here, \
         so this run refutes it"
            .to_string()
    } else {
        format!(
            "push costs at most {} pull's server CPU here, far from {BOZDAG_PUSH_OVER_PULL}×, \
             so this run refutes it",
            fmt::times(Some(highest)),
        )
    };
    format!(
        "{claim}; here, with {}, short-poll (pull) costs {} µs of server CPU per delivered message, \
         {}: {verdict}.",
        workload_phrase(runs),
        fmt::sig3(pull_cpu),
        fmt::and_list(&parts)
    )
}
