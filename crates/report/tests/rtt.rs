//! The "Network round trip" section: RFC 6202's claims beside runs with an
//! added one-way delay, latency in transits, regimes and verdicts.

use pushpoll_report::rtt::{self, Regime};
use pushpoll_report::{build, write_report, ReportInput, RunResult};

use crate::util::{fixture_path, parse_xml, quick, run, scratch};

/// A run of `transport` through a proxy adding `d` ms each way, with these
/// latencies (µs); everything else from the fixture.
fn delayed(
    transport: &str,
    d: f64,
    rate: f64,
    interval: Option<f64>,
    [mean, p50, p99, max]: [u64; 4],
) -> RunResult {
    let mut r = run(&quick(), transport).clone();
    r.one_way_delay_ms = Some(d);
    r.label = Some(format!("rtt {}ms", 2.0 * d));
    r.publish_rate = rate;
    r.poll_interval_s = interval;
    r.latency_us.count = 100;
    r.latency_us.min = p50 / 2;
    r.latency_us.mean = mean as f64;
    r.latency_us.p50 = p50;
    r.latency_us.p90 = p99;
    r.latency_us.p99 = p99;
    r.latency_us.p999 = max;
    r.latency_us.max = max;
    r
}

fn runs() -> Vec<RunResult> {
    vec![
        // The undelayed runs of an --rtt sweep: on the chart, not in the table.
        delayed("ws", 0.0, 2.0, None, [450, 400, 900, 1_000]),
        delayed("ws", 25.0, 2.0, None, [26_000, 25_500, 27_000, 28_000]),
        delayed(
            "long-poll",
            25.0,
            80.0,
            None,
            [50_000, 48_000, 75_000, 80_000],
        ),
        delayed(
            "long-poll",
            50.0,
            2.0,
            None,
            [51_000, 50_500, 53_000, 54_000],
        ),
        delayed(
            "long-poll",
            50.0,
            20.0,
            None,
            [90_000, 85_000, 130_000, 140_000],
        ),
        delayed(
            "short-poll",
            25.0,
            2.0,
            Some(0.5),
            [300_000, 290_000, 520_000, 525_000],
        ),
        delayed(
            "short-poll",
            25.0,
            2.0,
            Some(1.0),
            [540_000, 520_000, 1_010_000, 1_020_000],
        ),
    ]
}

fn input(runs: Vec<RunResult>) -> ReportInput {
    ReportInput {
        command: "compare".into(),
        runs,
        ..ReportInput::default()
    }
}

#[test]
fn regimes_split_at_one_event_per_round_trip() {
    assert_eq!(Regime::of(0.99), Regime::Spaced);
    assert_eq!(Regime::of(1.0), Regime::BackToBack);
    assert_eq!(Regime::of(4.0).name(), "back to back");
}

#[test]
fn rows_count_latency_in_transits_and_judge_each_claim() {
    let rows = rtt::rows(&runs());
    let cells: Vec<Vec<String>> = rows.iter().map(rtt::Row::cells).collect();
    let expected: Vec<Vec<&str>> = vec![
        vec![
            "ws",
            "25",
            "-",
            "2",
            "0.100",
            "spaced",
            "26.0 (1.04)",
            "25.5 (1.02)",
            "27.0 (1.08)",
            "28.0 (1.12)",
            "mean ≈ 1 transit",
            "agrees: mean 1.04 transits",
        ],
        vec![
            "long-poll",
            "25",
            "-",
            "80",
            "4.00",
            "back to back",
            "50.0 (2.00)",
            "48.0 (1.92)",
            "75.0 (3.00)",
            "80.0 (3.20)",
            "max > 3 transits",
            "agrees: max 3.20 transits (mean 2.00)",
        ],
        vec![
            "long-poll",
            "50",
            "-",
            "2",
            "0.200",
            "spaced",
            "51.0 (1.02)",
            "50.5 (1.01)",
            "53.0 (1.06)",
            "54.0 (1.08)",
            "mean ≈ 1 transit",
            "agrees: mean 1.02 transits",
        ],
        vec![
            "long-poll",
            "50",
            "-",
            "20",
            "2.00",
            "back to back",
            "90.0 (1.80)",
            "85.0 (1.70)",
            "130 (2.60)",
            "140 (2.80)",
            "max > 3 transits",
            "disagrees: max 2.80 transits, not over 3 (mean 1.80)",
        ],
        vec![
            "short-poll",
            "25",
            "0.5",
            "2",
            "0.100",
            "spaced",
            "300 (12.0)",
            "290 (11.6)",
            "520 (20.8)",
            "525 (21.0)",
            "mean ≈ interval/2 + d = 275 ms",
            "agrees: mean 300 ms, 1.09× the prediction",
        ],
        vec![
            "short-poll",
            "25",
            "1",
            "2",
            "0.100",
            "spaced",
            "540 (21.6)",
            "520 (20.8)",
            "1,010 (40.4)",
            "1,020 (40.8)",
            "mean ≈ interval/2 + d = 525 ms",
            "agrees: mean 540 ms, 1.03× the prediction",
        ],
    ];
    assert_eq!(cells, expected);
    assert_eq!(
        rows.iter().map(|r| r.agrees).collect::<Vec<_>>(),
        [true, true, true, false, true, true]
    );
    assert_eq!(rtt::header().len(), expected[0].len());
}

#[test]
fn a_mean_far_from_one_transit_disagrees() {
    let r = delayed("sse", 20.0, 1.0, None, [30_000, 29_000, 31_000, 32_000]);
    let row = rtt::Row::of(&r).unwrap();
    assert!(!row.agrees);
    assert_eq!(
        row.verdict,
        "disagrees: mean 1.50 transits, not within ±25% of 1"
    );
    let mut silent = r.clone();
    silent.latency_us.count = 0;
    assert_eq!(
        rtt::Row::of(&silent).unwrap().verdict,
        "nothing delivered: no measurement"
    );
    let mut undelayed = r;
    undelayed.one_way_delay_ms = None;
    assert!(rtt::Row::of(&undelayed).is_none());
}

#[test]
fn conclusions_check_both_halves_of_the_claim() {
    assert_eq!(
        rtt::conclusions(&rtt::rows(&runs())),
        [
            "Long polling, events spaced: mean 1.02 transits over 1 run; RFC 6202 says about one: the measurement agrees.",
            "Long polling, events back to back: max 2.80 to 3.20 transits over 2 runs; RFC 6202 says more than three: 1 of 2 agree. The mean is 1.80 to 2.00 transits there: the average of about one transit holds for spaced events only.",
            "Push (ws): mean 1.04 transits over 1 run; the model says one at any rate: the measurement agrees.",
            "Short polling: mean 1.03 to 1.09× (interval/2 + d) over 2 runs: the measurement agrees.",
        ]
    );
}

#[test]
fn the_chart_plots_p50_against_the_delay_with_a_computed_reading() {
    let lines = pushpoll_report::charts::rtt::lines(&runs());
    let ws = &lines[0];
    assert_eq!(ws.label, "ws, 2 msg/s");
    assert_eq!(ws.points, [(0.0, 0.4), (25.0, 25.5)]);
    assert_eq!(lines.len(), 6);
    let report = build(&[input(runs())]).unwrap();
    let section = report.rtt.as_ref().expect("delayed runs get the section");
    assert_eq!(section.chart.id, "rtt");
    assert_eq!(
        section.chart.reading,
        "Short polling's p50 grows with its interval (every 0.5 s: 290 ms and every 1 s: 520 ms \
         at d = 25.0 ms, 2 msg/s); WebSocket's p50 tracks d alone (0.400 and 25.5 ms at d = 0 \
         and 25 ms, 2 msg/s); long polling's, at d = 50.0 ms, is 1.01 d at 2 msg/s (spaced) and \
         1.70 d at 20 msg/s (back to back)."
    );
    assert!(section
        .chart
        .svg
        .contains("short-poll every 0.5 s, 2 msg/s"));
    assert!(section.chart.svg.contains("3 transits (3d)"));
    assert_eq!(
        report.charts().last().map(|c| c.id),
        Some("rtt"),
        "the chart is written and counted with the others"
    );
}

#[test]
fn delayed_runs_render_the_section_in_both_formats() {
    let dir = scratch("rtt");
    let files = write_report(&[input(runs())], &dir).unwrap();
    assert!(files.charts.iter().any(|p| p.ends_with("rtt.svg")));
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    let section = md
        .split("## Network round trip — RFC 6202's claims, measured\n")
        .nth(1)
        .expect("markdown has the section");
    assert!(section.starts_with("\n> **RFC 6202, section 2.2"));
    assert!(section.contains(
        "| long-poll | 25 | - | 80 | 4.00 | back to back | 50.0 (2.00) | 48.0 (1.92) | 75.0 (3.00) | 80.0 (3.20) | max &gt; 3 transits | agrees: max 3.20 transits (mean 2.00) |"
    ));
    assert!(section.contains("![Median latency as the one-way network delay grows](rtt.svg)"));
    let html = std::fs::read_to_string(&files.html).unwrap();
    let xml = parse_xml(&html).unwrap_or_else(|e| panic!("report.html is not well-formed: {e}"));
    assert!(xml
        .attributes
        .contains(&("section".into(), "id".into(), "rtt".into())));
    assert!(xml
        .attributes
        .contains(&("svg".into(), "id".into(), "chart-rtt".into())));
    assert!(xml
        .text
        .contains("disagrees: max 2.80 transits, not over 3 (mean 1.80)"));
    assert!(html.contains("<td class=\"num bad\">disagrees"));
}

#[test]
fn documents_without_a_delay_have_no_such_section() {
    let report = build(&[quick()]).unwrap();
    assert!(report.rtt.is_none());
    assert!(report.charts().all(|c| c.id != "rtt"));
    let dir = scratch("no-rtt");
    let files = write_report(&[quick()], &dir).unwrap();
    for file in [&files.markdown, &files.html] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains("Network round trip"), "{}", file.display());
        assert!(!text.contains("RFC 6202"), "{}", file.display());
    }
    // An --rtt sweep's undelayed runs alone (one_way_delay_ms 0) neither.
    let zero = vec![delayed("ws", 0.0, 2.0, None, [450, 400, 900, 1_000])];
    assert!(build(&[input(zero)]).unwrap().rtt.is_none());
}

#[test]
fn the_delay_is_read_from_documents_and_absent_from_older_ones() {
    let text = std::fs::read_to_string(fixture_path("compare-quick.json")).unwrap();
    let old = ReportInput::from_json(&text).unwrap();
    assert!(old.runs.iter().all(|r| r.one_way_delay_ms.is_none()));
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["runs"][0]["one_way_delay_ms"] = serde_json::json!(12.5);
    doc["runs"][1]["one_way_delay_ms"] = serde_json::Value::Null;
    let new = ReportInput::from_json(&doc.to_string()).unwrap();
    assert_eq!(new.runs[0].one_way_delay_ms, Some(12.5));
    assert_eq!(new.runs[1].one_way_delay_ms, None);
    assert_eq!(
        serde_json::to_value(&new.runs[0]).unwrap()["one_way_delay_ms"],
        serde_json::json!(12.5)
    );
}
