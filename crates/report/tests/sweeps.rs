//! The sweep charts exist exactly when the inputs hold a sweep, and the
//! report says why when they do not.

use pushpoll_report::report::Figure;
use pushpoll_report::{build, write_report, ReportInput};

use crate::util::{parse_xml, quick, scratch, sweep};

fn svg_ids(inputs: &[ReportInput]) -> Vec<String> {
    let dir = scratch("sweep-ids");
    let files = write_report(inputs, &dir).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    parse_xml(&html)
        .unwrap()
        .attributes
        .into_iter()
        .filter(|(el, name, _)| el == "svg" && name == "id")
        .map(|(_, _, v)| v)
        .collect()
}

#[test]
fn no_sweep_no_sweep_chart_and_the_text_says_so() {
    let dir = scratch("no-sweep");
    let files = write_report(&[quick()], &dir).unwrap();
    assert!(!files.charts.iter().any(|p| p
        .file_name()
        .unwrap()
        .to_string_lossy()
        .contains("sweep")));
    let html = std::fs::read_to_string(&files.html).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    for (id, what) in [
        ("sweep-subscribers", "several subscriber counts"),
        ("sweep-rate", "several publish rates"),
    ] {
        assert!(!html.contains(&format!("id=\"chart-{id}\"")));
        assert!(html.contains(&format!("<div id=\"figure-{id}\">")));
        assert!(html.contains(what) && md.contains(what), "says: no {what}");
    }
    assert!(md.contains("Not drawn: no transport was run at several"));
}

#[test]
fn a_sweep_of_both_draws_both() {
    let ids = svg_ids(&[sweep()]);
    assert!(ids.contains(&"chart-sweep-subscribers".to_string()));
    assert!(ids.contains(&"chart-sweep-rate".to_string()));
    let report = build(&[sweep()]).unwrap();
    assert!(!report
        .figures
        .iter()
        .any(|f| matches!(f, Figure::Omitted(_))));
}

#[test]
fn runs_from_several_files_make_a_sweep_of_what_differs() {
    // Two single-workload documents that differ only in subscribers: a
    // subscriber sweep, and still no rate sweep.
    let a = quick();
    let mut b = quick();
    for r in &mut b.runs {
        r.subscribers *= 4;
        r.subscribers_connected *= 4;
    }
    let ids = svg_ids(&[a.clone(), b]);
    assert!(ids.contains(&"chart-sweep-subscribers".to_string()));
    assert!(!ids.contains(&"chart-sweep-rate".to_string()));

    let mut c = quick();
    for r in &mut c.runs {
        r.publish_rate *= 2.0;
    }
    let ids = svg_ids(&[a, c]);
    assert!(!ids.contains(&"chart-sweep-subscribers".to_string()));
    assert!(ids.contains(&"chart-sweep-rate".to_string()));
}

#[test]
fn a_figure_held_fixed_differently_is_not_a_sweep() {
    // Different subscribers *and* different payloads: no line can be drawn,
    // since no two runs share everything but the subscriber count.
    let a = quick();
    let mut b = quick();
    for r in &mut b.runs {
        r.subscribers *= 4;
        r.payload_bytes *= 2;
    }
    let ids = svg_ids(&[a, b]);
    assert!(!ids.iter().any(|id| id.starts_with("chart-sweep")));
}

#[test]
fn several_lines_of_one_transport_are_told_apart() {
    let report = build(&[sweep()]).unwrap();
    let chart = report
        .charts()
        .find(|c| c.id == "sweep-subscribers")
        .unwrap();
    // The rate is what tells the two ws lines apart, so the legend says it.
    assert!(
        chart.svg.contains("ws, 2.00 msg/s"),
        "legend names the rate"
    );
    assert!(chart.svg.contains("ws, 8.00 msg/s"));
}

#[test]
fn one_table_per_workload_with_every_run_once_and_headings_naming_what_differs() {
    use pushpoll_report::compare;
    let mut runs = sweep().runs;
    // A second short-poll interval and a variant of the first workload.
    let first = runs[0].clone();
    let mut short = runs
        .iter()
        .find(|r| r.transport == "short-poll" && r.subscribers == first.subscribers)
        .unwrap()
        .clone();
    short.poll_interval_s = Some(2.0);
    short.publish_rate = first.publish_rate;
    let mut h2 = runs
        .iter()
        .find(|r| r.transport == "long-poll")
        .unwrap()
        .clone();
    (h2.subscribers, h2.publish_rate) = (first.subscribers, first.publish_rate);
    h2.label = Some("HTTP/2, browser headers".into());
    runs.push(short);
    runs.push(h2);
    let tables = compare::groups(&runs);
    // No run in two tables, none left out.
    assert_eq!(tables.iter().map(Vec::len).sum::<usize>(), runs.len());
    let headings: Vec<String> = tables.iter().map(|t| compare::heading(t)).collect();
    let mut unique = headings.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), headings.len(), "{headings:#?}");
    let t = &tables[0];
    let names = compare::column_names(t);
    assert_eq!(names.len(), t.len());
    assert!(
        names.contains(&"long-poll, HTTP/2, browser headers".to_string()),
        "{names:?}"
    );
    // Two short-poll intervals in one table: each column names its own,
    // and the heading names none.
    assert!(
        names.iter().any(|n| n.starts_with("short-poll every ")),
        "{names:?}"
    );
    assert!(
        names.contains(&"short-poll every 2s".to_string()),
        "{names:?}"
    );
    assert!(!headings[0].contains("short poll every"), "{}", headings[0]);
    // The other tables name their one interval in the heading.
    assert!(headings[1].contains("short poll every"), "{}", headings[1]);
    // And the idle window before publishing, which a workload may not have.
    assert!(headings[1].contains("s idle first"), "{}", headings[1]);
    let mut no_idle = tables[1].clone();
    no_idle.iter_mut().for_each(|r| r.idle.window_s = 0.0);
    assert!(!compare::heading(&no_idle).contains("idle first"));
}
