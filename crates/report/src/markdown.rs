//! `report.md`: the report as Markdown, charts linked as the `.svg` files
//! written beside it. Text from the inputs is escaped so a URL or argument
//! can neither break a table nor inject HTML.

use crate::report::{self, Figure, Report};
use crate::{compare, correctness, projection, rtt, variants, verdict};

/// Escapes Markdown and inline HTML in text taken from the inputs.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

/// A fenced code block that no run of backticks in `text` can close early.
fn code_block(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{text}\n{fence}\n")
}

/// A Markdown table; every cell is escaped.
fn table(header: &[String], rows: &[Vec<String>], numeric_from: usize) -> String {
    let line = |cells: &[String]| {
        format!(
            "| {} |\n",
            cells
                .iter()
                .map(|c| escape(c))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut out = line(header);
    let align: Vec<String> = (0..header.len())
        .map(|i| if i >= numeric_from { "---:" } else { "---" }.to_string())
        .collect();
    out.push_str(&format!("| {} |\n", align.join(" | ")));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// The whole report.
pub fn render(r: &Report) -> String {
    let mut out = String::from("# pushpoll report\n\n");
    out.push_str(&format!(
        "Rendered from {} results file{} by pushpoll-report; every figure below comes from {}.\n\n",
        r.inputs.len(),
        if r.inputs.len() == 1 { "" } else { "s" },
        if r.inputs.len() == 1 { "it" } else { "them" }
    ));

    out.push_str(&format!("## {}\n\n", verdict::TITLE));
    match &r.verdict {
        Some(v) => out.push_str(&format!("{}\n\n", escape(&v.sentences.join(" ")))),
        None => out.push_str(&format!(
            "{}\n\n",
            escape(&correctness::verdict(&r.correctness))
        )),
    }
    for w in correctness::warnings(&r.correctness) {
        out.push_str(&format!("- **Warning**: {}\n", escape(&w)));
    }
    if !correctness::warnings(&r.correctness).is_empty() {
        out.push('\n');
    }
    if let Some(c) = r.verdict.as_ref().and_then(|v| v.chart.as_ref()) {
        out.push_str(&format!(
            "![{}]({})\n\n{}\n\n",
            escape(&c.title),
            report::svg_file(c.id),
            escape(&c.reading)
        ));
    }

    out.push_str("## Inputs\n\n");
    for (i, input) in r.inputs.iter().enumerate() {
        out.push_str(&format!(
            "### {}\n\n{}.\n\n",
            escape(&report::input_name(i + 1, input)),
            escape(&report::describe_run(input))
        ));
        out.push_str(&code_block(&report::shell_join(&input.argv)));
        out.push_str(&format!(
            "\nMachine: {}.\n\n",
            escape(&report::describe_machine(input.machine.as_ref()))
        ));
    }

    out.push_str("## Charts\n\n");
    let reference = r.reference_group();
    if !reference.runs.is_empty() {
        out.push_str(&format!(
            "The per-transport charts show input {}: {}.\n\n",
            reference.input,
            escape(&compare::heading(&reference.runs))
        ));
    }
    for figure in &r.figures {
        match figure {
            Figure::Drawn(c) => {
                out.push_str(&format!(
                    "### {}\n\n![{}]({})\n\n{}\n\n",
                    escape(&c.title),
                    escape(&c.title),
                    report::svg_file(c.id),
                    escape(&c.reading)
                ));
            }
            Figure::Omitted(o) => {
                out.push_str(&format!(
                    "### {}\n\n{}\n\n",
                    escape(&o.title),
                    escape(&o.reason)
                ));
            }
        }
    }

    if let Some(section) = &r.rtt {
        out.push_str(&rtt_section(section));
    }

    if let Some(section) = &r.variants {
        out.push_str(&variants_section(section));
    }

    out.push_str("## Side by side\n\n");
    for g in &r.groups {
        if g.runs.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "### Input {}: {}\n\n",
            g.input,
            escape(&compare::heading(&g.runs))
        ));
        let header: Vec<String> = std::iter::once(String::new())
            .chain(compare::column_names(&g.runs))
            .collect();
        let rows: Vec<Vec<String>> = compare::rows(&g.runs)
            .into_iter()
            .map(|row| {
                let label = if row.sub {
                    format!("↳ {}", row.label)
                } else {
                    row.label.to_string()
                };
                std::iter::once(label).chain(row.cells).collect()
            })
            .collect();
        out.push_str(&table(&header, &rows, 1));
        if let Some(note) = compare::idle_note(&g.runs) {
            out.push_str(&format!("\n{}\n", escape(&note)));
        }
        let headlines = compare::headlines(&g.runs);
        if !headlines.is_empty() {
            out.push('\n');
            for h in headlines {
                out.push_str(&format!("- {}\n", escape(&h)));
            }
        }
        out.push_str(&format!("\n{}\n\n", escape(projection::EXPLANATION)));
        let rows: Vec<Vec<String>> = projection::rows(&compare::plain_runs(&g.runs))
            .into_iter()
            .map(|(label, cells)| std::iter::once(label).chain(cells).collect())
            .collect();
        out.push_str(&table(&projection::header(), &rows, 1));
        out.push('\n');
    }

    out.push_str("## Correctness\n\n");
    let warnings = correctness::warnings(&r.correctness);
    if warnings.is_empty() {
        out.push_str(&format!(
            "{}\n\n",
            escape(&correctness::verdict(&r.correctness))
        ));
    } else {
        out.push_str(&format!(
            "> **{}**\n",
            escape(&correctness::verdict(&r.correctness))
        ));
        for w in &warnings {
            out.push_str(&format!("> - {}\n", escape(w)));
        }
        out.push('\n');
    }
    let header: Vec<String> = correctness::HEADER.iter().map(|s| s.to_string()).collect();
    let rows: Vec<Vec<String>> = r.correctness.iter().map(correctness::Row::cells).collect();
    out.push_str(&table(&header, &rows, 4));
    out
}

/// The "Network round trip" section: the claim, the measured table, the
/// conclusions and the chart.
pub fn rtt_section(s: &rtt::Section) -> String {
    let mut out = format!("## {}\n\n", escape(rtt::TITLE));
    out.push_str(&format!(
        "> **{}**: {}\n\n",
        escape(rtt::CLAIM_SOURCE),
        escape(rtt::CLAIM)
    ));
    out.push_str(&format!("{}\n\n", escape(rtt::EXPLANATION)));
    let rows: Vec<Vec<String>> = s.rows.iter().map(rtt::Row::cells).collect();
    out.push_str(&table(&rtt::header(), &rows, rtt::NUMERIC_FROM));
    out.push('\n');
    for c in &s.conclusions {
        out.push_str(&format!("- {}\n", escape(c)));
    }
    if !s.conclusions.is_empty() {
        out.push('\n');
    }
    let c = &s.chart;
    out.push_str(&format!(
        "### {}\n\n![{}]({})\n\n{}\n\n",
        escape(&c.title),
        escape(&c.title),
        report::svg_file(c.id),
        escape(&c.reading)
    ));
    out
}

/// The "Variants side by side" section: per workload with variants, the
/// conclusions (the runs are columns of its side-by-side table).
pub fn variants_section(s: &variants::Section) -> String {
    let mut out = format!("## {}\n\n", escape(variants::TITLE));
    out.push_str(&format!("{}\n\n", escape(variants::EXPLANATION)));
    for g in &s.groups {
        out.push_str(&format!("### {}\n\n", escape(&g.title())));
        for c in &g.conclusions {
            out.push_str(&format!("- {}\n", escape(c)));
        }
        if !g.conclusions.is_empty() {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markdown_and_html() {
        assert_eq!(escape("<b>|x_y"), r"&lt;b&gt;\|x\_y");
        assert_eq!(code_block("a ``` b"), "````text\na ``` b\n````\n");
    }
}
