//! Every chart's reading states the figures computed from the fixture, and
//! the same sentence appears in both report files.

use pushpoll_report::charts::sweep::Axis;
use pushpoll_report::charts::{self, xml_escape};
use pushpoll_report::projection::{mbps, KAAZING_POLLING_MBPS, KAAZING_WEBSOCKET_MBPS};
use pushpoll_report::{build, fmt, write_report, RunResult};

use crate::util::{quick, run, scratch, sweep};

fn times(a: f64, b: f64) -> String {
    fmt::times(fmt::ratio(a, b))
}

fn reading(id: &str) -> String {
    build(&[quick()])
        .unwrap()
        .charts()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("chart {id}"))
        .reading
        .clone()
}

#[test]
fn latency_reading_has_the_p99_ratios() {
    let input = quick();
    let ws = run(&input, "ws");
    let text = reading("latency");
    for t in ["sse", "long-poll", "short-poll"] {
        let r = run(&input, t);
        let ratio = times(r.latency_us.p99 as f64, ws.latency_us.p99 as f64);
        assert!(
            text.contains(&format!(
                "{t} {} ms ({ratio} ws's)",
                fmt::ms(r.latency_us.p99)
            )),
            "{t} {ratio} in {text}"
        );
    }
}

#[test]
fn requests_reading_has_the_ratios_to_ws() {
    let input = quick();
    let ws = run(&input, "ws").requests_per_delivered.unwrap();
    let text = reading("requests");
    assert!(text.contains(&format!("ws needs {} HTTP requests", fmt::sig3(ws))));
    for t in ["sse", "long-poll", "short-poll"] {
        let ratio = times(run(&input, t).requests_per_delivered.unwrap(), ws);
        assert!(text.contains(&format!("{t} ")), "{t} in {text}");
        assert!(text.contains(&ratio), "{t} {ratio} in {text}");
    }
    // Long polling pays a request per delivery here, the most of all.
    let lp = times(run(&input, "long-poll").requests_per_delivered.unwrap(), ws);
    assert!(
        text.contains(&format!("long-poll sends {lp} as many")),
        "{text}"
    );
}

#[test]
fn bytes_reading_has_the_ratios_and_payload_shares() {
    let input = quick();
    let ws = run(&input, "ws");
    let text = reading("bytes");
    for t in ["sse", "long-poll", "short-poll"] {
        let r = run(&input, t);
        let ratio = times(
            r.bytes_per_delivered.unwrap(),
            ws.bytes_per_delivered.unwrap(),
        );
        let share = fmt::percent(Some(
            r.payload_bytes_per_delivered.unwrap() / r.bytes_per_delivered.unwrap(),
        ));
        let expected = format!(
            "{ratio}{} ({}, {share} payload)",
            if text.contains(&format!("{t} moves")) {
                " the bytes of ws"
            } else {
                ""
            },
            fmt::bytes(r.bytes_per_delivered.unwrap())
        );
        assert!(text.contains(&expected), "{expected} in {text}");
    }
}

#[test]
fn idle_reading_has_the_hourly_cost() {
    let input = quick();
    let text = reading("idle");
    for r in &input.runs {
        let requests = r.idle.requests_per_subscriber_minute.unwrap() * 60.0;
        let bytes = r.idle.bytes_per_subscriber_minute.unwrap() * 60.0;
        let part = format!(
            "{} {} requests and {}",
            r.transport,
            fmt::sig3(requests),
            fmt::bytes(bytes)
        );
        assert!(text.contains(&part), "{part} in {text}");
    }
    // The long poll is held longer than the idle window, and the reading says so.
    let lp = run(&input, "long-poll");
    assert!(lp.long_poll_wait_s.unwrap() > lp.idle.window_s);
    assert!(text.contains("long-poll's 30.0 s hold is longer than that window"));
}

#[test]
fn projection_reading_holds_each_transport_against_kaazing() {
    let input = quick();
    let text = reading("projection");
    for r in &input.runs {
        let overhead = mbps(r.overhead_bytes_per_subscriber_second.unwrap(), 100_000);
        let kaazing = if matches!(r.transport.as_str(), "ws" | "sse") {
            KAAZING_WEBSOCKET_MBPS[2]
        } else {
            KAAZING_POLLING_MBPS[2]
        };
        let part = format!(
            "{} {} Mbps ({} Kaazing's {} Mbps",
            r.transport,
            fmt::sig3(overhead),
            times(overhead, kaazing),
            fmt::sig3(kaazing)
        );
        assert!(text.contains(&part), "{part} in {text}");
    }
}

#[test]
fn cpu_reading_confirms_or_refutes_bozdag_from_the_numbers() {
    let input = quick();
    let text = reading("cpu");
    let pull = run(&input, "short-poll")
        .server_cpu_us_per_delivered
        .unwrap();
    let mut highest: f64 = 0.0;
    for t in ["ws", "sse", "long-poll"] {
        let push = run(&input, t).server_cpu_us_per_delivered.unwrap();
        highest = highest.max(push / pull);
        let part = format!("{} µs ({})", fmt::sig3(push), times(push, pull));
        assert!(text.contains(&part), "{part} in {text}");
    }
    assert!(text.contains("about 7× the server CPU of pull"));
    let verdict = if highest >= charts::cpu::CONFIRM_AT {
        "confirms it"
    } else {
        "refutes it"
    };
    assert!(text.contains(verdict), "{verdict} in {text}");
}

#[test]
fn cpu_reading_flips_when_push_is_seven_times_pull() {
    // The verdict follows the numbers: scale push's CPU to 7× pull's.
    let mut runs: Vec<RunResult> = quick().runs;
    let pull = runs
        .iter()
        .find(|r| r.transport == "short-poll")
        .unwrap()
        .server_cpu_us_per_delivered
        .unwrap();
    for r in runs.iter_mut().filter(|r| r.transport != "short-poll") {
        r.server_cpu_us_per_delivered = Some(pull * 7.0);
    }
    let text = charts::cpu::reading(&runs);
    assert!(text.contains("(7.00×)"), "{text}");
    assert!(text.contains("confirms it"), "{text}");
    // And without CPU figures there is nothing to check.
    for r in &mut runs {
        r.server_cpu_us_per_delivered = None;
    }
    assert!(charts::cpu::reading(&runs).contains("cannot check it"));
}

#[test]
fn cpu_reading_draws_the_verdict_from_server_and_both_ends() {
    // Loopback charges a receiver's TCP work to the sender: here push looks
    // cheap on the server alone, but server + generator says otherwise.
    let mut runs: Vec<RunResult> = quick().runs;
    for r in runs.iter_mut() {
        let (server, generator) = if r.transport == "short-poll" {
            (10.0, 2.0)
        } else {
            (5.0, 100.0)
        };
        r.server_cpu_us_per_delivered = Some(server);
        r.generator_cpu_us_per_delivered = Some(generator);
        r.total_cpu_us_per_delivered = Some(server + generator);
    }
    let text = charts::cpu::reading(&runs);
    assert!(
        text.contains("on the server alone, every push transport costs less"),
        "{text}"
    );
    assert!(text.contains("pull costs 12.0 µs"), "{text}");
    assert!(text.contains("ws 105 µs (8.75×)"), "{text}");
    assert!(text.contains("confirms it"), "{text}");
    assert!(text.contains("The two attributions disagree"), "{text}");
    assert!(text.contains(charts::cpu::ATTRIBUTION), "{text}");
    // Agreeing figures say so.
    for r in runs.iter_mut().filter(|r| r.transport != "short-poll") {
        r.total_cpu_us_per_delivered = Some(6.0);
    }
    let text = charts::cpu::reading(&runs);
    assert!(text.contains("Both attributions agree."), "{text}");
}

#[test]
fn wire_notes_show_a_negative_socket_difference_as_measured() {
    let mut runs: Vec<RunResult> = quick().runs;
    let ws = runs.iter_mut().find(|r| r.transport == "ws").unwrap();
    // permessage-deflate: payload and framing counted inflated, the socket
    // moved 1,200 B less than them.
    ws.wire = Some(
        serde_json::from_value(serde_json::json!({
            "data_frames": 100, "payload_bytes": 6_400, "framing_bytes": 200,
            "control_bytes": 0, "other_bytes": -1_200, "deflate_negotiated": 10,
            "bytes_per_message": 66.0, "framing_over_payload": 0.03125,
            "socket_bytes_per_message": 54.0, "tcp": null
        }))
        .unwrap(),
    );
    let notes = pushpoll_report::compare::wire_notes(&runs);
    assert!(
        notes[0].contains("socket −1,200 B beyond these"),
        "{notes:?}"
    );
    assert!(
        notes[0].contains("the socket measured 54.0 B a message"),
        "{notes:?}"
    );
}

#[test]
fn sweep_readings_have_the_growth_ratios() {
    let input = sweep();
    let at = |t: &str, subs: u64, rate: f64| {
        input
            .runs
            .iter()
            .find(|r| r.transport == t && r.subscribers == subs && r.publish_rate == rate)
            .unwrap()
    };
    let report = build(std::slice::from_ref(&input)).unwrap();
    let rate = report.charts().find(|c| c.id == "sweep-rate").unwrap();
    let subs = report
        .charts()
        .find(|c| c.id == "sweep-subscribers")
        .unwrap();
    assert!(
        rate.reading.starts_with("From 2 to 8 msg/s"),
        "{}",
        rate.reading
    );
    assert!(
        subs.reading.starts_with("From 10 to 40 subscribers"),
        "{}",
        subs.reading
    );
    // Two lines per transport (one per other figure), so each reading gives
    // the range of the changes; both ends are the computed ratios.
    for t in ["ws", "sse", "long-poll", "short-poll"] {
        let ratios: Vec<String> = [10, 40]
            .iter()
            .map(|&n| {
                times(
                    at(t, n, 8.0).requests_per_delivered.unwrap(),
                    at(t, n, 2.0).requests_per_delivered.unwrap(),
                )
            })
            .collect();
        for ratio in &ratios {
            assert!(
                rate.reading.contains(ratio.as_str()),
                "{t} {ratio} in {}",
                rate.reading
            );
        }
        assert!(rate.reading.contains(&format!("{t} (2 lines) requests")));
    }
    let one = charts::sweep::series(&input.runs, Axis::Rate);
    assert_eq!(one.len(), 8, "four transports × two subscriber counts");
}

#[test]
fn readings_appear_in_both_files() {
    let dir = scratch("readings");
    let files = write_report(&[quick()], &dir).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    let report = build(&[quick()]).unwrap();
    for chart in report.charts() {
        assert!(
            html.contains(&xml_escape(&chart.reading)),
            "{} in html",
            chart.id
        );
        // Markdown escapes a few characters; the figures survive as they are.
        let first_words: String = chart.reading.chars().take(30).collect();
        assert!(md.contains(&first_words), "{} in md", chart.id);
    }
}

#[test]
fn a_run_that_heard_only_unmarked_frames_gets_a_hint() {
    let mut r = quick().runs.remove(0);
    r.delivered = 0;
    r.lost = r.expected_deliveries;
    r.unmarked_frames = 150;
    let text = pushpoll_report::summary::render(&r);
    assert!(
        text.contains("150 frames without a pushpoll marker"),
        "{text}"
    );
    assert!(
        text.contains("hint: 150 frames arrived but none carried this run's marker"),
        "{text}"
    );
    assert!(text.contains("join or subscribe step"), "{text}");
    // Deliveries, or silence, get no hint.
    r.unmarked_frames = 0;
    assert!(pushpoll_report::summary::no_marker_hint(&r).is_none());
}
