//! The verdict: the report opens with it, five plain sentences at most,
//! every number from the runs, then its one chart.

use pushpoll_report::{build, verdict, write_report};

use crate::util::{quick, scratch, sweep};

#[test]
fn the_report_opens_with_the_verdict_and_its_chart() {
    let report = build(&[sweep()]).unwrap();
    let v = report.verdict.as_ref().expect("a verdict");
    assert!(!v.sentences.is_empty() && v.sentences.len() <= verdict::MAX_SENTENCES);
    // The quiet chat is the lowest rate measured, the busy one the highest.
    assert!(
        v.sentences[0].starts_with("In the quiet chat ("),
        "{}",
        v.sentences[0]
    );
    assert!(
        v.sentences[1].starts_with("In the busy chat ("),
        "{}",
        v.sentences[1]
    );
    assert!(
        v.sentences
            .iter()
            .all(|s| s.ends_with('.') && s.len() < 420),
        "{v:#?}"
    );
    let chart = v.chart.as_ref().expect("two rates: the chart is drawn");
    assert_eq!(chart.id, "verdict");

    let dir = scratch("verdict");
    let files = write_report(&[sweep()], &dir).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    let verdict_at = md.find("## Verdict").expect("a verdict section");
    assert!(verdict_at < md.find("## Inputs").unwrap());
    assert!(!md.contains("## Headlines"));
    assert!(md[verdict_at..].contains("](verdict.svg)"));
    let html = std::fs::read_to_string(&files.html).unwrap();
    let at = html.find("<section id=\"verdict\">").expect("html verdict");
    assert!(at < html.find("<section id=\"inputs\">").unwrap());
    assert!(html[at..].contains("id=\"chart-verdict\""));
}

#[test]
fn one_workload_still_has_a_verdict_without_a_chart() {
    let report = build(&[quick()]).unwrap();
    let v = report.verdict.as_ref().expect("four transports to compare");
    assert!(
        v.sentences[0].starts_with("In this chat ("),
        "{}",
        v.sentences[0]
    );
    assert!(v.chart.is_none());
}
