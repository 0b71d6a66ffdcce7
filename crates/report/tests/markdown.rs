//! `report.md` and the rows shared by every rendering of the table.

use pushpoll_report::{build, compare, write_report};

use crate::util::{quick, scratch};

#[test]
fn markdown_links_every_chart_file_it_wrote() {
    let input = quick();
    let dir = scratch("md");
    let files = write_report(std::slice::from_ref(&input), &dir).unwrap();
    assert_eq!(files.markdown, dir.join("report.md"));
    assert_eq!(files.html, dir.join("report.html"));
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    for path in &files.charts {
        assert_eq!(path.parent(), Some(dir.as_path()));
        assert!(path.is_file());
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(md.contains(&format!("]({name})")), "report.md links {name}");
    }
    // The machine and the command line of the input.
    let cpus = input.machine.as_ref().and_then(|m| m.cpus).unwrap();
    assert!(md.contains(&format!("Machine: {cpus} CPUs")));
    assert!(md.contains(&pushpoll_report::report::shell_join(&input.argv)));
}

#[test]
fn markdown_tables_have_one_cell_per_column() {
    let dir = scratch("md-tables");
    let files = write_report(&[quick()], &dir).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    let mut in_table = None;
    for line in md.lines() {
        if line.starts_with('|') {
            // Escaped pipes (`\|`) are content, not separators.
            let cells = line.replace("\\|", "").matches('|').count() - 1;
            match in_table {
                None => in_table = Some(cells),
                Some(n) => assert_eq!(cells, n, "ragged table row: {line}"),
            }
        } else {
            in_table = None;
        }
    }
}

#[test]
fn every_rendering_shows_the_same_rows() {
    let input = quick();
    let rows = compare::rows(&input.runs);
    let text = compare::render(&input.runs);
    let report = build(std::slice::from_ref(&input)).unwrap();
    let dir = scratch("rows");
    let files = write_report(std::slice::from_ref(&input), &dir).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert_eq!(report.groups.len(), 1);
    for row in &rows {
        assert_eq!(row.cells.len(), input.runs.len());
        // Text: the label (indented when a sub-row), then the cells in order.
        let indent = if row.sub { "  " } else { "" };
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{indent}{}", row.label)))
            .unwrap_or_else(|| panic!("text table lacks {}", row.label));
        let found: Vec<&str> = line[indent.len() + row.label.len()..]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(found, row.cells, "text row {}", row.label);
        // Markdown: `| label | c1 | c2 |`.
        let md_line = format!("{} | {} |", row.label, row.cells.join(" | "));
        assert!(md.contains(&md_line), "markdown lacks `{md_line}`");
        // HTML: the label cell followed by the same cells.
        let mut html_row = format!("{}</th>", row.label);
        for c in &row.cells {
            html_row.push_str(&format!("<td class=\"num\">{c}</td>"));
        }
        assert!(html.contains(&html_row), "html lacks {html_row}");
    }
}
