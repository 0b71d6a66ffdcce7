//! The "Variants side by side" section: labelled runs of one workload in
//! one table, the sentences on browser polling against WebSocket, SSE and
//! Kaazing's 871 bytes, and no section without variants.

use pushpoll_report::variants::{self, Headers, Http, World};
use pushpoll_report::{build, write_report, ReportInput, RunResult};

use crate::util::{parse_xml, quick, run, scratch};

/// A run of `transport` labelled `label`, 200 subscribers at 5 msg/s, with
/// these requests and bytes per delivered message (64 of them payload).
fn variant(transport: &str, label: &str, requests: f64, bytes: f64) -> RunResult {
    let mut r = run(&quick(), transport).clone();
    r.label = Some(label.into());
    r.one_way_delay_ms = None;
    r.subscribers = 200;
    r.publish_rate = 5.0;
    r.requests_per_delivered = Some(requests);
    r.bytes_per_delivered = Some(bytes);
    r.payload_bytes_per_delivered = Some(64.0);
    r.latency_us.p50 = 5_000;
    r.latency_us.p99 = 12_000;
    r.lost = 0;
    r.duplicated = 0;
    r.reordered = 0;
    // A long poll waiting through the idle window: a request, no answer.
    r.idle.requests = 200;
    r.idle.bytes = 160_000;
    r.poll_interval_s = None;
    r
}

/// A short-poll variant whose idle polls were `idle_poll` bytes each.
fn short(label: &str, requests: f64, bytes: f64, idle_poll: u64) -> RunResult {
    let mut r = variant("short-poll", label, requests, bytes);
    r.poll_interval_s = Some(1.0);
    r.idle.requests = 600;
    r.idle.bytes = 600 * idle_poll;
    r
}

fn runs() -> Vec<RunResult> {
    vec![
        variant("ws", "ws, HTTP/1.1, browser headers", 0.02, 80.0),
        variant("sse", "sse, HTTP/1.1, browser headers", 0.02, 100.0),
        variant("sse", "sse, HTTP/2, browser headers", 0.02, 96.0),
        variant(
            "long-poll",
            "long-poll, HTTP/1.1, browser headers",
            1.04,
            1_000.0,
        ),
        variant(
            "long-poll",
            "long-poll, HTTP/2, browser headers",
            1.04,
            400.0,
        ),
        short("short-poll, HTTP/1.1, browser headers", 0.25, 320.0, 970),
        short("short-poll, HTTP/2, browser headers", 0.25, 160.0, 300),
    ]
}

fn input(runs: Vec<RunResult>) -> ReportInput {
    ReportInput {
        command: "load".into(),
        runs,
        ..ReportInput::default()
    }
}

#[test]
fn labels_name_the_http_version_and_header_profile() {
    let w = |http, headers| World { http, headers };
    assert_eq!(
        World::of("long-poll, HTTP/2, browser headers, br"),
        w(Http::V2, Headers::Browser)
    );
    assert_eq!(World::of("sse h2 minimal"), w(Http::V2, Headers::Minimal));
    assert_eq!(
        World::of("ws, HTTP/1.1, browser headers"),
        w(Http::V1, Headers::Browser)
    );
    assert_eq!(World::of("rtt 20ms"), w(Http::V1, Headers::Unknown));
}

#[test]
fn one_row_per_run_with_exact_cells() {
    let section = variants::section(&runs()).expect("variants make a section");
    assert_eq!(section.groups.len(), 1);
    let g = &section.groups[0];
    assert_eq!(g.title(), "200 subscribers, 5 msg/s");
    let cells: Vec<Vec<String>> = g.rows.iter().map(variants::Row::cells).collect();
    let row = |label: &str, transport: &str, req: &str, bytes: &str, share: &str, idle: &str| {
        vec![
            label.to_string(),
            transport.into(),
            req.into(),
            bytes.into(),
            share.into(),
            idle.into(),
            "5.00 / 12.0".into(),
            "0".into(),
            "0".into(),
            "0".into(),
        ]
    };
    let expected = vec![
        row(
            "ws, HTTP/1.1, browser headers",
            "ws",
            "0.0200",
            "80.0",
            "80.0%",
            "-",
        ),
        row(
            "sse, HTTP/1.1, browser headers",
            "sse",
            "0.0200",
            "100",
            "64.0%",
            "-",
        ),
        row(
            "sse, HTTP/2, browser headers",
            "sse",
            "0.0200",
            "96.0",
            "66.7%",
            "-",
        ),
        row(
            "long-poll, HTTP/1.1, browser headers",
            "long-poll",
            "1.04",
            "1,000",
            "6.40%",
            "-",
        ),
        row(
            "long-poll, HTTP/2, browser headers",
            "long-poll",
            "1.04",
            "400",
            "16.0%",
            "-",
        ),
        row(
            "short-poll, HTTP/1.1, browser headers",
            "short-poll",
            "0.250",
            "320",
            "20.0%",
            "970",
        ),
        row(
            "short-poll, HTTP/2, browser headers",
            "short-poll",
            "0.250",
            "160",
            "40.0%",
            "300",
        ),
    ];
    assert_eq!(cells, expected);
    assert_eq!(variants::header().len(), expected[0].len());
}

#[test]
fn sentences_compare_both_worlds_and_kaazing() {
    let section = variants::section(&runs()).unwrap();
    assert_eq!(
        section.headline,
        "With browser headers, polling costs 4.00× to 12.5× WebSocket's bytes per delivered \
         message over HTTP/1.1 (the notes' world) and 2.00× to 5.00× over HTTP/2 (today's)."
    );
    let expected = vec![
        "Polling over HTTP/1.1 with browser headers (the notes' world) costs: \
         “long-poll, HTTP/1.1, browser headers” 1.04 requests and 1,000 B per delivered message \
         (12.5× WebSocket's bytes); “short-poll, HTTP/1.1, browser headers” 0.250 requests and \
         320 B per delivered message (4.00× WebSocket's bytes); WebSocket (“ws, HTTP/1.1, \
         browser headers”) 0.0200 requests and 80.0 B per delivered message.",
        "Polling over HTTP/2 with browser headers (today's) costs: “long-poll, HTTP/2, browser \
         headers” 1.04 requests and 400 B per delivered message (5.00× WebSocket's bytes); \
         “short-poll, HTTP/2, browser headers” 0.250 requests and 160 B per delivered message \
         (2.00× WebSocket's bytes); WebSocket (“ws, HTTP/1.1, browser headers”) 0.0200 \
         requests and 80.0 B per delivered message.",
        "An idle browser poll, request and answer, is over HTTP/1.1 970 B (“short-poll, \
         HTTP/1.1, browser headers”); over HTTP/2 300 B (“short-poll, HTTP/2, browser \
         headers”) on the wire (headers and body), against Kaazing's 871 B of headers per \
         request and response.",
        "WebSocket and SSE with browser headers: “ws, HTTP/1.1, browser headers” 0.0200 \
         requests and 80.0 B per delivered message; “sse, HTTP/1.1, browser headers” 0.0200 \
         requests and 100 B per delivered message; “sse, HTTP/2, browser headers” 0.0200 \
         requests and 96.0 B per delivered message.",
    ];
    assert_eq!(section.groups[0].conclusions, expected);
}

#[test]
fn a_sentence_needs_its_runs() {
    // HTTP/1.1 only, no short poll, no SSE: the HTTP/1.1 sentence alone.
    let some: Vec<RunResult> = runs()
        .into_iter()
        .filter(|r| {
            let l = r.label.as_deref().unwrap();
            l.contains("HTTP/1.1") && r.transport != "short-poll" && r.transport != "sse"
        })
        .collect();
    let section = variants::section(&some).unwrap();
    let c = &section.groups[0].conclusions;
    assert_eq!(c.len(), 1);
    assert!(c[0].starts_with("Polling over HTTP/1.1 with browser headers"));
    assert_eq!(
        section.headline,
        "With browser headers, polling costs 12.5× WebSocket's bytes per delivered message \
         over HTTP/1.1 (the notes' world)."
    );

    // No WebSocket run: no comparison with it, the idle sentence stays.
    let no_ws: Vec<RunResult> = runs().into_iter().filter(|r| r.transport != "ws").collect();
    let section = variants::section(&no_ws).unwrap();
    let c = &section.groups[0].conclusions;
    assert_eq!(c.len(), 1);
    assert!(c[0].starts_with("An idle browser poll"));
    assert_eq!(
        section.headline,
        "6 variants of 200 subscribers, 5 msg/s compared side by side."
    );
}

#[test]
fn no_section_without_variants() {
    // The fixture's runs carry no label.
    assert!(build(&[quick()]).unwrap().variants.is_none());
    // One label for every run.
    let same: Vec<RunResult> = runs()
        .into_iter()
        .map(|mut r| {
            r.label = Some("baseline".into());
            r
        })
        .collect();
    assert!(variants::section(&same).is_none());
    // Different labels, different workloads.
    let mut apart = runs();
    apart.truncate(2);
    apart[1].subscribers = 400;
    assert!(variants::section(&apart).is_none());
    // Runs through the delaying proxy belong to the round-trip section.
    let delayed: Vec<RunResult> = runs()
        .into_iter()
        .map(|mut r| {
            r.one_way_delay_ms = Some(10.0);
            r
        })
        .collect();
    assert!(variants::section(&delayed).is_none());
}

#[test]
fn reports_show_the_section_and_its_headline() {
    let report = build(&[input(runs())]).unwrap();
    let section = report.variants.as_ref().expect("section");
    let headlines = report.headlines();
    assert_eq!(headlines[1].0, variants::TITLE);
    assert_eq!(headlines[1].1, section.headline);

    let dir = scratch("variants");
    let files = write_report(&[input(runs())], &dir).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    let at = md
        .find(&format!("## {}", variants::TITLE))
        .expect("markdown has the section");
    assert!(md[at..].contains("- An idle browser poll"));
    // The runs are columns of the workload's one side-by-side table, not
    // a second table in this section.
    let side = md.find("## Side by side").expect("side by side");
    assert!(!md[at..side].contains("| long-poll |"));
    assert!(md[side..].contains(
        " | long-poll, HTTP/1.1, browser headers | long-poll, HTTP/2, browser headers |"
    ));
    let html = std::fs::read_to_string(&files.html).unwrap();
    parse_xml(&html).unwrap_or_else(|e| panic!("report.html is not well-formed: {e}"));
    assert!(html.contains("<section id=\"variants\">"));
    assert!(html.contains("Kaazing&#39;s 871 B") || html.contains("Kaazing's 871 B"));
}
