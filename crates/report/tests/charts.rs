//! The charts themselves: what they are drawn from and what they hold.

use pushpoll_report::{build, fmt, latency};

use crate::util::{quick, run};

#[test]
fn latency_curves_come_from_the_full_histograms() {
    let input = quick();
    for r in &input.runs {
        let h = latency::decode(&r.latency_histogram).expect("fixture histogram decodes");
        assert_eq!(h.len(), r.latency_us.count, "{}", r.transport);
        assert_eq!(h.max(), r.latency_us.max, "{}", r.transport);
        let (points, full) = latency::curve(r);
        assert!(full, "{} drawn from its histogram", r.transport);
        assert!(points
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(points.last().unwrap().1, r.latency_us.max as f64);
    }
}

#[test]
fn a_run_without_a_histogram_falls_back_to_its_percentiles() {
    let mut r = run(&quick(), "ws").clone();
    r.latency_histogram.clear();
    let (points, full) = latency::curve(&r);
    assert!(!full);
    assert_eq!(points, latency::summary_points(&r));
    assert_eq!(points[0], (2.0, r.latency_us.p50 as f64));
    assert_eq!(points.last().unwrap().1, r.latency_us.max as f64);
}

#[test]
fn bar_charts_label_each_transport_with_its_figure() {
    let input = quick();
    let report = build(std::slice::from_ref(&input)).unwrap();
    let chart = |id: &str| report.charts().find(|c| c.id == id).unwrap().svg.clone();
    let requests = chart("requests");
    let bytes = chart("bytes");
    let cpu = chart("cpu");
    for r in &input.runs {
        assert!(requests.contains(&r.transport));
        assert!(requests.contains(&fmt::opt(r.requests_per_delivered)));
        assert!(bytes.contains(&fmt::bytes(r.bytes_per_delivered.unwrap())));
        assert!(cpu.contains(&format!("{} µs", fmt::opt(r.server_cpu_us_per_delivered))));
    }
    assert!(bytes.contains("payload") && bytes.contains("overhead"));
    let projection = chart("projection");
    assert!(projection.contains("Kaazing polling") && projection.contains("Kaazing WebSocket"));
}

#[test]
fn the_charts_show_the_workload_with_the_most_transports() {
    let mut input = quick();
    // A lone extra run under another workload comes first: the charts still
    // show the four-transport comparison.
    let mut lone = input.runs[0].clone();
    lone.subscribers = 7;
    input.runs.insert(0, lone);
    let report = build(&[input]).unwrap();
    assert_eq!(report.groups.len(), 2);
    assert_eq!(report.reference_group().runs.len(), 4);
    assert!(report
        .charts()
        .find(|c| c.id == "latency")
        .unwrap()
        .title
        .contains("50 subscribers"));
}

#[test]
fn a_single_load_run_renders_every_chart() {
    // What `pushpoll load --json` writes: one run, here short polling alone,
    // so there is no ws to compare with and no pull/push pair.
    let mut input = quick();
    input.command = "load".into();
    input.runs.retain(|r| r.transport == "short-poll");
    let report = build(std::slice::from_ref(&input)).unwrap();
    // Six per-transport charts and the message paths; one rate, no verdict chart.
    assert_eq!(report.charts().count(), 7);
    let requests = report.charts().find(|c| c.id == "requests").unwrap();
    assert!(
        requests.reading.contains("short-poll needs"),
        "{}",
        requests.reading
    );
    let cpu = report.charts().find(|c| c.id == "cpu").unwrap();
    assert!(cpu.reading.contains("cannot check it"), "{}", cpu.reading);
    for chart in report.charts() {
        crate::util::parse_xml(&chart.svg).unwrap_or_else(|e| panic!("{}: {e}", chart.id));
    }
}
