//! Chart 7: CPU per delivered message per transport, server and generator
//! stacked, and whether this run's numbers confirm what Bozdag, Mesbah and
//! van Deursen (2007) found in their server: push cost about 7× the server
//! CPU of pull. The verdict is drawn on the server alone and on both ends,
//! because loopback moves TCP cost between them ([`ATTRIBUTION`]).

use plotters::style::RGBColor;

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

/// The generator's share of a stacked bar: the server's colour, lighter.
fn lighter(c: RGBColor) -> RGBColor {
    let mix = |v: u8| ((v as u16 + 2 * 255) / 3) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Draws the chart for runs of one workload: each bar is the server's CPU
/// per delivered message, with the generator's stacked on top where known
/// (on loopback neither alone is the whole cost; see [`ATTRIBUTION`]).
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let title = format!(
        "CPU per delivered message, server and generator ({})",
        workload_phrase(runs)
    );
    let bars: Vec<Bar> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let c = color(&r.transport, i);
            let server = r.server_cpu_us_per_delivered;
            let generator = r.generator_cpu_us_per_delivered;
            let mut parts = vec![(server.unwrap_or(0.0), c)];
            if let Some(g) = generator {
                parts.push((g, lighter(c)));
            }
            let label = match (server, generator) {
                (Some(s), Some(g)) => format!("{} + {} µs", fmt::sig3(s), fmt::sig3(g)),
                (Some(s), None) => format!("{} µs", fmt::sig3(s)),
                _ => "not measured".into(),
            };
            Bar {
                name: r.transport.clone(),
                parts,
                label,
            }
        })
        .collect();
    let svg = render(ID, &title, |root| {
        bars_linear(
            root,
            ID,
            &title,
            "CPU µs per delivered message",
            &bars,
            &fmt::axis,
            &[
                ("server", RGBColor(90, 90, 90)),
                ("generator", lighter(RGBColor(90, 90, 90))),
            ],
        )
    })?;
    Ok(Chart {
        id: ID,
        title,
        reading: reading(runs),
        svg,
    })
}

/// Why the report shows CPU at both ends, in two sentences.
pub const ATTRIBUTION: &str = "On loopback the kernel charges a receiver's TCP work to \
the thread that sends, so a push server pays for its subscribers' receiving while polling's \
request handling is partly charged to the load generator. Server CPU alone therefore flatters \
polling; server plus generator is what a delivery costs both ends, however the kernel \
attributed it.";

/// A verdict on Bozdag's claim from the highest push-to-pull ratio.
fn verdict(highest: f64) -> String {
    if highest >= CONFIRM_AT {
        format!(
            "push costs up to {} pull's here too, so this run confirms it",
            fmt::times(Some(highest))
        )
    } else if highest < 1.0 {
        "every push transport costs less per delivered message than polling here, \
         so this run refutes it"
            .to_string()
    } else {
        format!(
            "push costs at most {} pull's here, far from {BOZDAG_PUSH_OVER_PULL}×, \
             so this run refutes it",
            fmt::times(Some(highest)),
        )
    }
}

/// Each push transport's figure against pull's, in words, and the highest
/// ratio; `None` when pull's or every push's figure is missing.
fn compare(
    runs: &[RunResult],
    cpu: &dyn Fn(&RunResult) -> Option<f64>,
) -> Option<(f64, Vec<String>, f64)> {
    let pull_cpu = runs
        .iter()
        .find(|r| r.transport == "short-poll")
        .and_then(cpu)?;
    let pushes: Vec<(&RunResult, f64)> = runs
        .iter()
        .filter(|r| r.transport != "short-poll")
        .filter_map(|r| Some((r, fmt::ratio(cpu(r)?, pull_cpu)?)))
        .collect();
    if pushes.is_empty() {
        return None;
    }
    let parts = pushes
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
    Some((pull_cpu, parts, highest))
}

/// The Bozdag check in words: each push transport's CPU per delivered
/// message against short polling's (pull), on the server alone and on both
/// ends, and the verdict from both.
pub fn reading(runs: &[RunResult]) -> String {
    let server = |r: &RunResult| r.server_cpu_us_per_delivered.filter(|v| *v > 0.0);
    let total = |r: &RunResult| r.total_cpu_us_per_delivered.filter(|v| *v > 0.0);
    let claim = format!(
        "Bozdag et al. (2007) found push cost about {BOZDAG_PUSH_OVER_PULL}× the server CPU of pull in their server"
    );
    let has_pull = runs
        .iter()
        .any(|r| r.transport == "short-poll" && server(r).is_some());
    let Some((pull_cpu, parts, highest)) = compare(runs, &server) else {
        return if has_pull {
            format!(
                "{claim}; these runs cannot check it: no push transport has its server CPU measured."
            )
        } else {
            format!(
                "{claim}; these runs cannot check it: that needs a short-poll run (pull) with the \
                 server's CPU measured, which pushpoll knows when the server runs in-process \
                 (pushpoll compare)."
            )
        };
    };
    let server_verdict = verdict(highest);
    let mut text = format!(
        "{claim}; here, with {}, short-poll (pull) costs {} µs of server CPU per delivered message, \
         {}: on the server alone, {server_verdict}.",
        workload_phrase(runs),
        fmt::sig3(pull_cpu),
        fmt::and_list(&parts)
    );
    if let Some((pull_total, parts, highest_total)) = compare(runs, &total) {
        let total_verdict = verdict(highest_total);
        let agree = (highest >= CONFIRM_AT) == (highest_total >= CONFIRM_AT);
        text.push_str(&format!(
            " Counting server and generator together, pull costs {} µs and {}: {total_verdict}. {}",
            fmt::sig3(pull_total),
            fmt::and_list(&parts),
            if agree {
                "Both attributions agree."
            } else {
                "The two attributions disagree, so the verdict depends on where the kernel charges TCP work; the sum is the fairer figure."
            }
        ));
        text.push(' ');
        text.push_str(ATTRIBUTION);
    }
    text
}
