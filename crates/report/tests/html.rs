//! `report.html`: well-formed, self-contained, one inline `<svg>` per chart.

use pushpoll_report::{build, charts::xml_escape, write_report};

use crate::util::{parse_xml, quick, scratch, sweep};

#[test]
fn html_is_well_formed_xhtml_with_one_svg_per_chart() {
    let input = quick();
    let dir = scratch("html");
    let files = write_report(std::slice::from_ref(&input), &dir).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    let xml = parse_xml(&html).unwrap_or_else(|e| panic!("report.html is not well-formed: {e}"));
    assert!(xml.doctype, "starts with <!DOCTYPE html>");
    assert_eq!(xml.elements[0], "html");
    assert!(xml.attributes.contains(&(
        "html".into(),
        "xmlns".into(),
        "http://www.w3.org/1999/xhtml".into()
    )));

    let svg_ids: Vec<&str> = xml
        .attributes
        .iter()
        .filter(|(el, name, _)| el == "svg" && name == "id")
        .map(|(_, _, v)| v.as_str())
        .collect();
    assert_eq!(
        svg_ids,
        [
            "chart-message-paths",
            "chart-latency",
            "chart-requests",
            "chart-bytes",
            "chart-idle",
            "chart-projection",
            "chart-cpu"
        ]
    );
    assert_eq!(
        xml.elements.iter().filter(|e| *e == "svg").count(),
        files.charts.len()
    );
    let report = build(&[input]).unwrap();
    for chart in report.charts() {
        let title = format!(
            "<title id=\"chart-{}-title\">{}</title>",
            chart.id,
            xml_escape(&chart.title)
        );
        assert!(html.contains(&title), "missing {title}");
    }
}

#[test]
fn ids_are_unique() {
    let dir = scratch("ids");
    let files = write_report(&[quick(), sweep()], &dir).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    let mut ids: Vec<String> = parse_xml(&html)
        .unwrap()
        .attributes
        .into_iter()
        .filter(|(_, name, _)| name == "id")
        .map(|(_, _, v)| v)
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "an id is used twice");
    assert!(all > 20);
}

#[test]
fn html_is_self_contained() {
    let dir = scratch("self-contained");
    let files = write_report(&[quick(), sweep()], &dir).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    let xml = parse_xml(&html).unwrap();
    for forbidden in [
        "script", "link", "img", "iframe", "object", "embed", "image",
    ] {
        assert!(
            !xml.elements.iter().any(|e| e == forbidden),
            "<{forbidden}> in a self-contained page"
        );
    }
    for (el, name, value) in &xml.attributes {
        assert!(
            !matches!(name.as_str(), "src" | "href" | "xlink:href" | "srcset"),
            "<{el} {name}=\"{value}\"> loads something"
        );
    }
    let lower = html.to_lowercase();
    assert!(!lower.contains("url("), "CSS or SVG refers to a URL");
    assert!(!lower.contains("@import") && !lower.contains("@font-face"));
    assert!(
        xml.elements.iter().any(|e| e == "style"),
        "the CSS is inline"
    );
}

#[test]
fn every_chart_file_is_an_svg_document_of_its_own() {
    let dir = scratch("svg-files");
    let files = write_report(&[sweep()], &dir).unwrap();
    assert_eq!(
        files.charts.len(),
        10,
        "six charts, two sweeps, the message paths and the verdict's"
    );
    for path in &files.charts {
        let text = std::fs::read_to_string(path).unwrap();
        let xml = parse_xml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(xml.elements[0], "svg");
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert!(xml
            .attributes
            .contains(&("svg".into(), "id".into(), format!("chart-{stem}"))));
        assert!(
            xml.elements.iter().any(|e| e == "text"),
            "axis labels are text"
        );
    }
}
