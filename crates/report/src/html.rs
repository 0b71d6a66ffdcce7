//! `report.html`: the report as one self-contained page. Every chart is an
//! inline `<svg>`, the style sheet is inline, and there is no script, font
//! or external asset. The markup is polyglot HTML5 (well-formed XML in the
//! XHTML namespace) so a strict XML parser reads it as well as a browser;
//! every string from the inputs is escaped.

use crate::charts::xml_escape as escape;
use crate::report::{self, Figure, Report};
use crate::{compare, correctness, projection, rtt, variants, verdict};

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1b1b1b;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2.5rem; }
pre { background: #f4f4f4; padding: .6rem .8rem; overflow-x: auto; }
table { border-collapse: collapse; margin: .8rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; }
td.num, th.num { text-align: right; }
td.sub { padding-left: 1.6rem; color: #555; }
thead th { background: #f0f0f0; }
figure { margin: 1rem 0 2rem; }
figure svg { max-width: 100%; height: auto; border: 1px solid #ddd; }
p.reading { margin: .4rem 0 0; }
p.verdict { font-size: 1.08rem; }
p.omitted { color: #555; font-style: italic; }
.warning { background: #fff0f0; border: 2px solid #c00; padding: .6rem .8rem; color: #600; }
.ok { background: #f0fff0; border: 1px solid #3a3; padding: .6rem .8rem; }
td.bad { background: #fdd; font-weight: bold; color: #900; }
";

/// A table: header cells, then rows; cells from `numeric_from` on are
/// right-aligned; `bad(row, column)` marks a cell as a warning.
fn table(
    header: &[String],
    rows: &[Vec<String>],
    numeric_from: usize,
    sub: &[bool],
    bad: &dyn Fn(usize, usize) -> bool,
) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if i >= numeric_from {
            " class=\"num\""
        } else {
            ""
        };
        out.push_str(&format!("<th scope=\"col\"{class}>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (r, row) in rows.iter().enumerate() {
        out.push_str("<tr>");
        for (c, cell) in row.iter().enumerate() {
            let mut classes = Vec::new();
            if c >= numeric_from {
                classes.push("num");
            }
            if c == 0 && sub.get(r).copied().unwrap_or(false) {
                classes.push("sub");
            }
            if bad(r, c) {
                classes.push("bad");
            }
            let class = if classes.is_empty() {
                String::new()
            } else {
                format!(" class=\"{}\"", classes.join(" "))
            };
            let tag = if c == 0 { "th scope=\"row\"" } else { "td" };
            let end = if c == 0 { "th" } else { "td" };
            out.push_str(&format!("<{tag}{class}>{}</{end}>", escape(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\" xml:lang=\"en\">\n<head>\n\
         <meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>pushpoll report</title>\n<style>",
    );
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<h1>pushpoll report</h1>\n");
    out.push_str(&format!(
        "<p>Rendered from {} results file{} by pushpoll-report; every figure below comes from {}.</p>\n",
        r.inputs.len(),
        if r.inputs.len() == 1 { "" } else { "s" },
        if r.inputs.len() == 1 { "it" } else { "them" }
    ));

    let warnings = correctness::warnings(&r.correctness);
    out.push_str(&format!(
        "<section id=\"verdict\">\n<h2>{}</h2>\n",
        verdict::TITLE
    ));
    match &r.verdict {
        Some(v) => out.push_str(&format!(
            "<p class=\"verdict\">{}</p>\n",
            escape(&v.sentences.join(" "))
        )),
        None => out.push_str(&format!(
            "<p>{}</p>\n",
            escape(&correctness::verdict(&r.correctness))
        )),
    }
    if !warnings.is_empty() {
        out.push_str(&warning_box(r, &warnings));
    }
    if let Some(c) = r.verdict.as_ref().and_then(|v| v.chart.as_ref()) {
        out.push_str(&format!(
            "<figure id=\"figure-{id}\">\n{svg}\n<figcaption><p class=\"reading\">{reading}</p></figcaption>\n</figure>\n",
            id = c.id,
            svg = c.svg.trim_end(),
            reading = escape(&c.reading)
        ));
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"inputs\">\n<h2>Inputs</h2>\n");
    for (i, input) in r.inputs.iter().enumerate() {
        out.push_str(&format!(
            "<h3>{}</h3>\n<p>{}.</p>\n<pre><code>{}</code></pre>\n<p>Machine: {}.</p>\n",
            escape(&report::input_name(i + 1, input)),
            escape(&report::describe_run(input)),
            escape(&report::shell_join(&input.argv)),
            escape(&report::describe_machine(input.machine.as_ref()))
        ));
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    let reference = r.reference_group();
    if !reference.runs.is_empty() {
        out.push_str(&format!(
            "<p>The per-transport charts show input {}: {}.</p>\n",
            reference.input,
            escape(&compare::heading(&reference.runs))
        ));
    }
    for figure in &r.figures {
        match figure {
            Figure::Drawn(c) => out.push_str(&format!(
                "<figure id=\"figure-{id}\">\n<h3>{title}</h3>\n{svg}\n<figcaption><p class=\"reading\">{reading}</p></figcaption>\n</figure>\n",
                id = c.id,
                title = escape(&c.title),
                svg = c.svg.trim_end(),
                reading = escape(&c.reading)
            )),
            Figure::Omitted(o) => out.push_str(&format!(
                "<div id=\"figure-{}\">\n<h3>{}</h3>\n<p class=\"omitted\">{}</p>\n</div>\n",
                o.id,
                escape(&o.title),
                escape(&o.reason)
            )),
        }
    }
    out.push_str("</section>\n");

    if let Some(section) = &r.rtt {
        out.push_str(&rtt_section(section));
    }

    if let Some(section) = &r.variants {
        out.push_str(&variants_section(section));
    }

    out.push_str("<section id=\"side-by-side\">\n<h2>Side by side</h2>\n");
    for g in &r.groups {
        if g.runs.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "<h3>Input {}: {}</h3>\n",
            g.input,
            escape(&compare::heading(&g.runs))
        ));
        let header: Vec<String> = std::iter::once(String::new())
            .chain(compare::column_names(&g.runs))
            .collect();
        let rows = compare::rows(&g.runs);
        let sub: Vec<bool> = rows.iter().map(|row| row.sub).collect();
        let cells: Vec<Vec<String>> = rows
            .into_iter()
            .map(|row| {
                std::iter::once(row.label.to_string())
                    .chain(row.cells)
                    .collect()
            })
            .collect();
        let wrong = |row: usize, col: usize| {
            col > 0
                && cells[row][0] == "lost / dup / reordered"
                && g.runs
                    .get(col - 1)
                    .is_some_and(|x| x.lost > 0 || x.duplicated > 0 || x.reordered > 0)
        };
        out.push_str(&table(&header, &cells, 1, &sub, &wrong));
        if let Some(note) = compare::idle_note(&g.runs) {
            out.push_str(&format!("<p>{}</p>\n", escape(&note)));
        }
        let headlines = compare::headlines(&g.runs);
        if !headlines.is_empty() {
            out.push_str("<ul>\n");
            for h in headlines {
                out.push_str(&format!("<li>{}</li>\n", escape(&h)));
            }
            out.push_str("</ul>\n");
        }
        out.push_str(&format!("<p>{}</p>\n", escape(projection::EXPLANATION)));
        let rows: Vec<Vec<String>> = projection::rows(&compare::plain_runs(&g.runs))
            .into_iter()
            .map(|(label, cells)| std::iter::once(label).chain(cells).collect())
            .collect();
        out.push_str(&table(&projection::header(), &rows, 1, &[], &|_, _| false));
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"correctness\">\n<h2>Correctness</h2>\n");
    if warnings.is_empty() {
        out.push_str(&format!(
            "<p class=\"ok\">{}</p>\n",
            escape(&correctness::verdict(&r.correctness))
        ));
    } else {
        out.push_str(&warning_box(r, &warnings));
    }
    let header: Vec<String> = correctness::HEADER.iter().map(|s| s.to_string()).collect();
    let rows: Vec<Vec<String>> = r.correctness.iter().map(correctness::Row::cells).collect();
    let bad = |row: usize, col: usize| {
        let run = &r.correctness[row];
        match col {
            5 => run.unsent > 0,
            6 => run.lost > 0,
            7 => run.duplicated > 0,
            8 => run.reordered > 0,
            _ => false,
        }
    };
    out.push_str(&table(&header, &rows, 4, &[], &bad));
    out.push_str("</section>\n</body>\n</html>\n");
    out
}

/// The "Network round trip" section: the claim, the measured table (rows
/// that disagree marked), the conclusions and the chart.
fn rtt_section(s: &rtt::Section) -> String {
    let mut out = format!(
        "<section id=\"rtt\">\n<h2>{}</h2>\n<blockquote><p><strong>{}</strong>: {}</p></blockquote>\n<p>{}</p>\n",
        escape(rtt::TITLE),
        escape(rtt::CLAIM_SOURCE),
        escape(rtt::CLAIM),
        escape(rtt::EXPLANATION)
    );
    let rows: Vec<Vec<String>> = s.rows.iter().map(rtt::Row::cells).collect();
    let verdict = rtt::header().len() - 1;
    let bad = |row: usize, col: usize| col == verdict && !s.rows[row].agrees;
    out.push_str(&table(&rtt::header(), &rows, rtt::NUMERIC_FROM, &[], &bad));
    if !s.conclusions.is_empty() {
        out.push_str("<ul>\n");
        for c in &s.conclusions {
            out.push_str(&format!("<li>{}</li>\n", escape(c)));
        }
        out.push_str("</ul>\n");
    }
    let c = &s.chart;
    out.push_str(&format!(
        "<figure id=\"figure-{id}\">\n<h3>{title}</h3>\n{svg}\n<figcaption><p class=\"reading\">{reading}</p></figcaption>\n</figure>\n</section>\n",
        id = c.id,
        title = escape(&c.title),
        svg = c.svg.trim_end(),
        reading = escape(&c.reading)
    ));
    out
}

/// The "Variants side by side" section: per workload with variants, the
/// conclusions (the runs are columns of its side-by-side table).
fn variants_section(s: &variants::Section) -> String {
    let mut out = format!(
        "<section id=\"variants\">\n<h2>{}</h2>\n<p>{}</p>\n",
        escape(variants::TITLE),
        escape(variants::EXPLANATION)
    );
    for g in &s.groups {
        out.push_str(&format!("<h3>{}</h3>\n", escape(&g.title())));
        if !g.conclusions.is_empty() {
            out.push_str("<ul>\n");
            for c in &g.conclusions {
                out.push_str(&format!("<li>{}</li>\n", escape(c)));
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</section>\n");
    out
}

/// The visible warning: the verdict and one line per run that went wrong.
fn warning_box(r: &Report, warnings: &[String]) -> String {
    let mut out = format!(
        "<div class=\"warning\" role=\"alert\">\n<p><strong>{}</strong></p>\n<ul>\n",
        escape(&correctness::verdict(&r.correctness))
    );
    for w in warnings {
        out.push_str(&format!("<li>{}</li>\n", escape(w)));
    }
    out.push_str("</ul>\n</div>\n");
    out
}
