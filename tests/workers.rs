//! Big runs (issue #5, items 5 and 6): a run split over worker processes
//! (`--subscribers-per-worker`), subscribers bound to several source
//! addresses (`--source-ips`), several load agents against one server, and
//! `pushpoll report --merge`. The `pushpoll` binary runs as a child (worker
//! processes are that binary again); the server runs in this process, on a
//! thread of its own.
//! Every assertion is a count.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pushpoll::document;
use pushpoll_loadgen::RunResult;
use pushpoll_testkit::{parse_metrics, scrape_metrics_blocking, TestServer};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pushpoll-workers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pushpoll(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushpoll"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("pushpoll runs")
}

fn only_run(path: &Path) -> RunResult {
    let mut doc = document::read(path).expect("results document");
    assert_eq!(doc.runs.len(), 1);
    doc.runs.remove(0)
}

fn assert_exact(r: &RunResult, subscribers: u64) {
    assert_eq!(r.subscribers_connected, subscribers, "{r:?}");
    assert!(r.published >= 5, "published {}", r.published);
    assert_eq!(r.expected_deliveries, subscribers * r.published);
    assert_eq!(r.delivered, r.expected_deliveries, "errors {:?}", r.errors);
    assert_eq!((r.lost, r.duplicated, r.unexpected), (0, 0, 0));
    assert_eq!(r.latency_us.count, r.delivered, "one latency per delivery");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

/// 3 workers × ~10 WebSocket subscribers, spread over two source addresses:
/// one exact result, as if one process had held them all.
#[test]
fn a_split_run_over_workers_and_source_addresses_is_exact() {
    let server = TestServer::start_threaded(pushpoll_server::Config::default());
    let dir = scratch("split");
    let json = dir.join("split.json");
    let url = format!("ws://{}/ws", server.addr);
    let metrics = format!("http://{}/metrics", server.addr);
    let out = pushpoll(&[
        "load",
        "--url",
        &url,
        "--subscribers",
        "25",
        "--subscribers-per-worker",
        "10",
        "--rate",
        "10",
        "--duration",
        "1",
        "--source-ips",
        "127.0.0.2,127.0.0.3",
        "--server-metrics-url",
        &metrics,
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = only_run(&json);
    assert_exact(&r, 25);
    assert_eq!(r.subscribers, 25);
    assert_eq!(
        r.requests, 25,
        "one handshake per subscriber, summed over workers"
    );
    assert_eq!(r.other_run_markers, 0);
    // CPU is known split too: the server's from its metrics, the
    // generator's as the parent's and every worker's together.
    assert!(r.server_cpu_s.is_some(), "{r:?}");
    assert!(r.generator_cpu_s.is_some_and(|c| c > 0.0), "{r:?}");
    assert!(r.total_cpu_us_per_delivered.is_some(), "{r:?}");
    drop(server);
    std::fs::remove_dir_all(dir).ok();
}

/// `--metrics-addr` of a split run: the parent's endpoint shows the whole
/// run (the workers' subscribers, requests, bytes and latencies summed from
/// their progress reports), and its last figures are the result's.
#[test]
fn a_split_run_serves_the_whole_run_on_metrics_addr() {
    use std::io::BufRead as _;
    let server = TestServer::start_threaded(pushpoll_server::Config::default());
    let dir = scratch("split-metrics");
    let json = dir.join("m.json");
    let url = format!("http://{}/messages", server.addr);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushpoll"))
        .args([
            "load",
            "--url",
            &url,
            "--transport",
            "long-poll",
            "--subscribers",
            "9",
            "--subscribers-per-worker",
            "5",
            "--rate",
            "10",
            "--duration",
            "1",
            "--metrics-addr",
            "127.0.0.1:0",
            "--metrics-linger",
            "3",
            "--json",
            json.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pushpoll runs");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.strip_prefix("serving the run's metrics on http://") {
                let _ = tx.send(rest.trim_end_matches("/metrics").to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr: std::net::SocketAddr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the endpoint's address on stderr")
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let last = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never finished"
        );
        let m = parse_metrics(&scrape_metrics_blocking(addr));
        let finished = m
            .iter()
            .any(|(k, v)| k.starts_with("pushpoll_load_run_finished") && *v == 1.0);
        if finished {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(status.success(), "{log}");
    let r = only_run(&json);
    assert_exact(&r, 9);
    let get = |name: &str, extra: &str| -> f64 {
        let key = format!(
            "{name}{{run_id=\"{}\",transport=\"long-poll\"{extra}}}",
            r.run_id
        );
        *last
            .get(&key)
            .unwrap_or_else(|| panic!("no {key} in {last:?}"))
    };
    assert_eq!(get("pushpoll_load_delivered_total", ""), r.delivered as f64);
    assert_eq!(get("pushpoll_load_published_total", ""), r.published as f64);
    assert_eq!(get("pushpoll_load_subscribers_connected", ""), 9.0);
    assert_eq!(
        get("pushpoll_load_latency_seconds_count", ""),
        r.latency_us.count as f64
    );
    assert_eq!(
        get("pushpoll_load_requests_total", ""),
        (r.requests + r.idle.requests) as f64
    );
    let bytes = get("pushpoll_load_bytes_total", ",direction=\"up\"")
        + get("pushpoll_load_bytes_total", ",direction=\"down\"");
    assert_eq!(bytes, (r.bytes_up + r.bytes_down + r.idle.bytes) as f64);
    drop(server);
    std::fs::remove_dir_all(dir).ok();
}

/// Polling works split too: the parent's acknowledged sets reach the workers.
#[test]
fn a_split_long_poll_run_is_exact() {
    let server = TestServer::start_threaded(pushpoll_server::Config::default());
    let dir = scratch("split-lp");
    let json = dir.join("lp.json");
    let url = format!("http://{}/messages", server.addr);
    let out = pushpoll(&[
        "load",
        "--url",
        &url,
        "--transport",
        "long-poll",
        "--subscribers",
        "12",
        "--subscribers-per-worker",
        "6",
        "--rate",
        "10",
        "--duration",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_exact(&only_run(&json), 12);
    drop(server);
    std::fs::remove_dir_all(dir).ok();
}

/// Two agents publish to one server at once under their own run ids: each
/// measures only its own messages and counts the other's apart; `report
/// --merge` sums them into one schema-valid document.
#[test]
fn two_agents_on_one_server_merge_exactly() {
    let server = TestServer::start_threaded(pushpoll_server::Config::default());
    let dir = scratch("agents");
    let url = format!("ws://{}/ws", server.addr);
    let files: Vec<PathBuf> = (0..2)
        .map(|i| dir.join(format!("agent-{i}.json")))
        .collect();
    let agents: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Command::new(env!("CARGO_BIN_EXE_pushpoll"))
                .args([
                    "load",
                    "--url",
                    &url,
                    "--subscribers",
                    "8",
                    "--rate",
                    "10",
                    "--duration",
                    "2",
                    "--run-id",
                    &format!("5eed000{i}"),
                    "--label",
                    "agents",
                    "--json",
                    f.to_str().unwrap(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut a in agents {
        assert!(a.wait().unwrap().success());
    }
    let runs: Vec<RunResult> = files.iter().map(|f| only_run(f)).collect();
    for r in &runs {
        assert_exact(r, 8);
        // The other agent's publishing overlapped this one's subscribers.
        assert!(
            r.other_run_markers > 0,
            "{}: saw no foreign markers",
            r.run_id
        );
    }
    let merged_path = dir.join("merged.json");
    let out = pushpoll(&[
        "report",
        "--merge",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
        "--json",
        merged_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("other runs' messages"), "{summary}");
    let merged = only_run(&merged_path);
    assert_eq!(merged.subscribers_connected, 16);
    assert_eq!(merged.published, runs[0].published + runs[1].published);
    assert_eq!(merged.delivered, runs[0].delivered + runs[1].delivered);
    assert_eq!(merged.lost, 0);
    assert_eq!(merged.latency_us.count, merged.delivered);
    assert_eq!(
        merged.latency_us.max,
        runs[0].latency_us.max.max(runs[1].latency_us.max)
    );
    assert_eq!(merged.run_id, "5eed0000,5eed0001");
    assert_eq!(merged.label.as_deref(), Some("agents (2 agents)"));

    let schema: serde_json::Value = serde_json::from_str(pushpoll_results::SCHEMA).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&written)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    drop(server);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_big_run_options_are_named() {
    let err = |args: &[&str]| {
        let mut all = vec!["load", "--url", "ws://127.0.0.1:9/ws"];
        all.extend_from_slice(args);
        let out = pushpoll(&all);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = err(&["--source-ips", "203.0.113.7"]);
    assert!(
        e.contains("--source-ips") && e.contains("203.0.113.7"),
        "{e}"
    );
    let e = err(&["--source-ips", "not-an-ip"]);
    assert!(e.contains("--source-ips"), "{e}");
    let e = err(&["--subscribers-per-worker", "0"]);
    assert!(e.contains("--subscribers-per-worker"), "{e}");
    let e = err(&["--run-id", "xyz"]);
    assert!(e.contains("--run-id"), "{e}");
    // A worker started by hand, without its parent, says what it is for.
    let e = err(&["--worker"]);
    assert!(e.contains("Start command"), "{e}");
    let e = pushpoll(&["report", "--merge", "/nonexistent/a.json"]);
    assert!(!e.status.success());
}

/// Ctrl-C reaches the whole process group, workers included: they keep
/// their subscribers until the parent, which stops publishing, asks them to
/// report; the run ends early with an exact result.
#[cfg(unix)]
#[test]
fn ctrl_c_ends_a_split_run_with_everything_measured() {
    use std::os::unix::process::CommandExt as _;
    let server = TestServer::start_threaded(pushpoll_server::Config::default());
    let dir = scratch("ctrl-c");
    let json = dir.join("stopped.json");
    let url = format!("ws://{}/ws", server.addr);
    let child = Command::new(env!("CARGO_BIN_EXE_pushpoll"))
        .args([
            "load",
            "--url",
            &url,
            "--subscribers",
            "12",
            "--subscribers-per-worker",
            "6",
            "--rate",
            "10",
            "--duration",
            "60",
            "--json",
            json.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_for_published(&server, 5, Duration::from_secs(2));
    let status = Command::new("kill")
        .args(["-s", "INT", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let r = only_run(&json);
    assert!(r.published < 600, "stopped early: {}", r.published);
    assert_exact(&r, 12);
    drop(server);
    std::fs::remove_dir_all(dir).ok();
}

/// Waits until a child run has published `n` messages, after `settle` and
/// at most 30 s: its document does not exist until it ends, so watch the
/// server's hub instead, boundedly.
fn wait_for_published(server: &TestServer, n: u64, settle: Duration) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    std::thread::sleep(settle);
    while std::time::Instant::now() < deadline && server_published(server) < n {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Messages the server has accepted, from its `/metrics`.
fn server_published(server: &TestServer) -> u64 {
    let m = parse_metrics(&scrape_metrics_blocking(server.addr));
    m.get("pushpoll_messages_published_total")
        .map_or(0, |v| *v as u64)
}

/// A worker that dies mid-run fails the run with an error naming it, at
/// once, instead of publishing on or hanging.
#[cfg(target_os = "linux")]
#[test]
fn a_dead_worker_is_a_clear_error() {
    let server = TestServer::start_threaded(pushpoll_server::Config::default());
    let url = format!("ws://{}/ws", server.addr);
    let child = Command::new(env!("CARGO_BIN_EXE_pushpoll"))
        .args([
            "load",
            "--url",
            &url,
            "--subscribers",
            "12",
            "--subscribers-per-worker",
            "6",
            "--rate",
            "10",
            "--duration",
            "60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let children = format!("/proc/{pid}/task/{pid}/children");
    wait_for_published(&server, 3, Duration::from_secs(1));
    let workers = std::fs::read_to_string(&children).unwrap();
    let first = workers.split_whitespace().next().expect("a worker process");
    assert!(Command::new("kill")
        .args(["-s", "KILL", first])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("worker process") && stderr.contains(&format!("pid {first}")),
        "{stderr}"
    );
    drop(server);
}
