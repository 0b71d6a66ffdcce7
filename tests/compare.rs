use pushpoll::compare::{self, CompareOpts};
use pushpoll::document::{self, Document};
use pushpoll_loadgen::Transport;
use tokio_util::sync::CancellationToken;

use crate::quiet;

fn small(transports: Vec<Transport>) -> CompareOpts {
    CompareOpts {
        subscribers: vec![20],
        rate: vec![20.0],
        duration: Some(1.0),
        poll_interval: vec![0.25],
        long_poll_wait: None,
        payload_bytes: Some(100),
        idle: Some(0.5),
        transports: transports.into_iter().map(Into::into).collect(),
        quick: true,
        server_threads: Some(1),
        json: None,
        rtt: vec![],
        out: None,
        slo: None,
        header_profile: None,
        variants: vec![],
        remote: Default::default(),
    }
}

fn schema() -> serde_json::Value {
    serde_json::from_str(pushpoll_results::SCHEMA).expect("schema is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_delivers_everything_exactly_once() {
    let opts = small(Transport::ALL.to_vec());
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    assert_eq!(runs.len(), 4);
    for r in &runs {
        assert_eq!(r.subscribers_connected, 20, "{}", r.transport);
        assert!(
            r.published >= 15,
            "{}: published {}",
            r.transport,
            r.published
        );
        assert_eq!(r.expected_deliveries, 20 * r.published, "{}", r.transport);
        assert_eq!(r.delivered, r.expected_deliveries, "{}", r.transport);
        assert_eq!(
            (r.lost, r.duplicated, r.reordered, r.unexpected),
            (0, 0, 0, 0),
            "{}",
            r.transport
        );
        assert_eq!(r.latency_us.count, r.delivered, "{}", r.transport);
        assert!(
            r.server_cpu_s.is_some_and(|s| s > 0.0),
            "{}: server CPU measured",
            r.transport
        );
        assert!(r.errors.is_empty(), "{}: {:?}", r.transport, r.errors);
    }
    let by = |name: &str| runs.iter().find(|r| r.transport == name).unwrap();
    let (ws, short) = (by("ws"), by("short-poll"));
    // Push needs one request per subscriber; polling needs one per answer.
    assert_eq!(ws.requests, 20, "one handshake per subscriber");
    assert!(
        short.requests >= 20 * 4,
        "short polls every 0.25 s: {}",
        short.requests
    );
    assert!(short.empty_polls > 0);
    assert!(short.requests_per_delivered.unwrap() > 2.0 * ws.requests_per_delivered.unwrap());
    assert!(short.bytes_per_delivered.unwrap() > ws.bytes_per_delivered.unwrap());
    // Idle: short polling keeps asking while WebSocket is silent.
    assert!(short.idle.requests > 0);
    assert_eq!(ws.idle.requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_document_matches_its_schema() {
    let opts = small(vec![Transport::Ws, Transport::LongPoll]);
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("pushpoll-doc-{}", std::process::id()));
    let path = dir.join("result.json");
    document::write(&Document::new("compare", 0, runs), &path).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema()).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&written)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The added delay of an --rtt run is a number of milliseconds, never negative.
    assert!(written["runs"][0]["one_way_delay_ms"].is_null());
    let mut delayed = written.clone();
    delayed["runs"][0]["one_way_delay_ms"] = serde_json::json!(10.0);
    assert!(validator.is_valid(&delayed));
    delayed["runs"][0]["one_way_delay_ms"] = serde_json::json!(-1.0);
    assert!(!validator.is_valid(&delayed));
    // And the schema is not vacuous: a renamed field fails it.
    let mut broken = written.clone();
    let run = broken["runs"][0].as_object_mut().unwrap();
    let lost = run.remove("lost").unwrap();
    run.insert("loss".into(), lost);
    assert!(!validator.is_valid(&broken));
    let back = document::read(&path).unwrap();
    assert_eq!(back.runs.len(), 2);
    // Every run keeps its timeline, whose deliveries add up to its own.
    for r in &back.runs {
        assert!(!r.timeline.is_empty(), "{}", r.transport);
        let d: u64 = r.timeline.iter().map(|e| e.delivered).sum();
        assert_eq!(d, r.delivered, "{}", r.transport);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_compare_keeps_what_it_measured() {
    let mut opts = small(Transport::ALL.to_vec());
    opts.duration = Some(30.0);
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        s.cancel();
    });
    let runs = compare::run(&opts, stop, &quiet()).await.unwrap();
    assert_eq!(
        runs.len(),
        1,
        "the run in progress is kept, the rest skipped"
    );
    assert!(runs[0].published > 0 && runs[0].published < 600);
    assert_eq!(runs[0].lost, 0);
}

#[test]
fn a_sweep_plans_the_matrix_without_redundant_runs() {
    let mut opts = small(Transport::ALL.to_vec());
    opts.subscribers = vec![5, 10];
    opts.rate = vec![1.0, 2.0];
    opts.poll_interval = vec![0.5, 1.0];
    let steps = compare::plan(&opts);
    // Per (subscribers, rate): ws, sse, long-poll once; short-poll per interval.
    assert_eq!(steps.len(), 2 * 2 * (3 + 2));
    let short: Vec<_> = steps
        .iter()
        .filter(|s| {
            s.transport == Transport::ShortPoll
                && s.workload.subscribers == 10
                && s.workload.rate == 2.0
        })
        .map(|s| s.workload.poll_interval)
        .collect();
    assert_eq!(short, vec![0.5, 1.0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_runs_every_step_and_tables_group_them() {
    let mut opts = small(vec![Transport::Ws, Transport::ShortPoll]);
    opts.subscribers = vec![5];
    opts.poll_interval = vec![0.25, 0.5];
    opts.duration = Some(0.5);
    opts.idle = Some(0.0);
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    let intervals: Vec<_> = runs
        .iter()
        .map(|r| (r.transport.as_str(), r.poll_interval_s))
        .collect();
    assert_eq!(
        intervals,
        vec![
            ("ws", None),
            ("short-poll", Some(0.25)),
            ("short-poll", Some(0.5))
        ]
    );
    let tables = pushpoll_report::compare::groups(&runs);
    assert_eq!(tables.len(), 1, "one table for the workload");
    assert_eq!(
        pushpoll_report::compare::column_names(&tables[0]),
        vec!["ws", "short-poll every 0.25s", "short-poll every 0.5s"]
    );
    assert!(runs.iter().all(|r| r.lost == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtt_sweep_runs_through_the_proxy_and_labels_its_runs() {
    let mut opts = small(vec![Transport::Ws, Transport::LongPoll]);
    opts.subscribers = vec![5];
    opts.duration = Some(0.5);
    opts.idle = Some(0.0);
    opts.rtt = vec![0.0, 20.0];
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    let labels: Vec<_> = runs
        .iter()
        .map(|r| (r.transport.as_str(), r.label.as_deref()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("ws", Some("browser headers")),
            ("long-poll", Some("browser headers")),
            ("ws", Some("rtt 20ms, browser headers")),
            ("long-poll", Some("rtt 20ms, browser headers"))
        ]
    );
    let delays: Vec<_> = runs.iter().map(|r| r.one_way_delay_ms).collect();
    assert_eq!(delays, vec![Some(0.0), Some(0.0), Some(10.0), Some(10.0)]);
    assert!(runs
        .iter()
        .all(|r| r.lost == 0 && r.duplicated == 0 && r.delivered > 0));
    // Runs that differ only in network condition are tabled apart.
    assert_eq!(pushpoll_report::compare::groups(&runs).len(), 2);
}

#[tokio::test]
async fn a_negative_rtt_is_refused_before_anything_runs() {
    let mut opts = small(vec![Transport::Ws]);
    opts.rtt = vec![20.0, -5.0];
    let err = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--rtt"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_run_after_the_plain_transports_and_get_a_column_each() {
    let mut opts = small(vec![Transport::LongPoll]);
    opts.idle = Some(0.0);
    opts.variants = vec![
        compare::Variant::LongPollMinimal,
        compare::Variant::ShortPollUncompressed,
    ];
    assert_eq!(compare::total_runs(&opts), 3);
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    let labels: Vec<_> = runs
        .iter()
        .map(|r| (r.transport.as_str(), r.label.as_deref()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("long-poll", Some("browser headers")),
            ("long-poll", Some("minimal headers")),
            ("short-poll", Some("browser headers, uncompressed"))
        ]
    );
    for r in &runs {
        assert_eq!((r.lost, r.duplicated), (0, 0), "{:?}", r.label);
        assert!(r.delivered > 0 && r.errors.is_empty(), "{:?}", r.errors);
    }
    // A browser's poll carries about 730 bytes more headers than the
    // generator's minimal one (docs/headers.md), and so does its POST.
    let up = |r: &pushpoll_loadgen::RunResult| r.bytes_up as f64 / r.requests as f64;
    assert!(
        up(&runs[0]) - up(&runs[1]) > 670.0,
        "{} vs {}",
        up(&runs[0]),
        up(&runs[1])
    );
    let sent = |r: &pushpoll_loadgen::RunResult| r.sender.unwrap().bytes_up_per_sent.unwrap();
    assert!(sent(&runs[0]) - sent(&runs[1]) > 400.0);
    // One table for the workload, a column per run, named by what differs.
    let tables = pushpoll_report::compare::groups(&runs);
    assert_eq!(tables.len(), 1);
    assert_eq!(
        pushpoll_report::compare::column_names(&tables[0]),
        vec![
            "long-poll, browser headers",
            "long-poll, minimal headers",
            "short-poll, browser headers, uncompressed"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_variants_poll_and_stream_over_http2() {
    let mut opts = small(vec![Transport::LongPoll]);
    opts.idle = Some(0.0);
    opts.variants = vec![compare::Variant::LongPollHttp2, compare::Variant::SseHttp2];
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    let labels: Vec<_> = runs.iter().map(|r| r.label.as_deref()).collect();
    assert_eq!(
        labels,
        vec![
            Some("browser headers"),
            Some("HTTP/2, browser headers"),
            Some("HTTP/2, browser headers")
        ]
    );
    for r in &runs {
        assert_eq!((r.lost, r.duplicated), (0, 0), "{:?}", r.label);
        assert!(r.delivered > 0 && r.errors.is_empty(), "{:?}", r.errors);
    }
    // HPACK: a long poll's request over HTTP/2 is a fraction of HTTP/1.1's.
    let up = |r: &pushpoll_loadgen::RunResult| r.bytes_up as f64 / r.requests as f64;
    assert!(
        up(&runs[1]) < up(&runs[0]) / 2.0,
        "{} vs {}",
        up(&runs[1]),
        up(&runs[0])
    );
    // The label two runs share goes to the heading; the third names its own.
    let names = pushpoll_report::compare::column_names(&runs);
    assert_eq!(
        names,
        vec!["long-poll, browser headers", "long-poll", "sse"]
    );
    assert!(pushpoll_report::compare::heading(&runs).ends_with("[HTTP/2, browser headers]"));
}

/// `compare --url`: another server's transports (here a pushpoll server
/// started apart, as a user's would be) in the same runs and document; its
/// process CPU from `--server-pid` (this test process, which runs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_url_runs_a_running_servers_transports() {
    let server = pushpoll_testkit::TestServer::start_default().await;
    let mut opts = small(vec![Transport::Ws, Transport::ShortPoll]);
    opts.idle = Some(0.0);
    opts.remote.url = Some(format!("http://{}", server.addr));
    opts.remote.server_pid = Some(std::process::id());
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(names, ["ws", "short-poll"]);
    for r in &runs {
        assert_eq!((r.lost, r.duplicated), (0, 0), "{}", r.transport);
        assert_eq!(r.delivered, r.expected_deliveries);
        assert!(r.server_cpu_s.is_some(), "{}", r.transport);
    }
    assert_eq!(runs[0].url, format!("ws://{}/ws", server.addr));

    // Another server's protocols need --url; --rtt and variants are the
    // in-process server's.
    let mut own = small(vec![]);
    own.transports = vec!["socket.io:polling".parse().unwrap()];
    let e = compare::run(&own, CancellationToken::new(), &quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("give --url to compare another server's"), "{e}");
    opts.rtt = vec![50.0];
    let e = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("--rtt puts pushpoll's delaying proxy"), "{e}");
}
