//! `pushpoll load --server-pid`: server CPU per delivered message for a
//! server on this machine that has no Prometheus endpoint (the floor
//! server, a peer), as `scripts/fanout-cost.sh` uses it.

use clap::Parser as _;
use pushpoll::cli::{dispatch, Cli};
use pushpoll_testkit::{TempFile, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_pid_reports_the_servers_cpu_per_delivery() {
    // The server runs in this process, so this process is its PID.
    let server = TestServer::start_default().await;
    let json = TempFile::new("load.json", "");
    let pid = std::process::id().to_string();
    let url = format!("ws://{}/ws", server.addr);
    let cli = Cli::try_parse_from([
        "pushpoll",
        "load",
        "--url",
        &url,
        "--subscribers",
        "4",
        "--rate",
        "5",
        "--duration",
        "1",
        "--grace",
        "1",
        "--server-pid",
        &pid,
        "--json",
        json.path(),
    ])
    .unwrap();
    dispatch(cli).await.unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json.path()).unwrap()).unwrap();
    let run = &doc["runs"][0];
    assert_eq!(run["lost"], 0, "{run}");
    assert_eq!(run["delivered"], run["expected_deliveries"], "{run}");
    assert!(run["server_cpu_s"].as_f64().is_some(), "{run}");
    assert!(
        run["server_cpu_us_per_delivered"].as_f64().is_some(),
        "{run}"
    );
}

#[tokio::test]
async fn server_pid_must_name_a_process_and_excludes_the_metrics_url() {
    let both = Cli::try_parse_from([
        "pushpoll",
        "load",
        "--url",
        "ws://127.0.0.1:9/ws",
        "--server-pid",
        "1",
        "--server-metrics-url",
        "http://127.0.0.1:9/metrics",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        both.contains("--server-pid") && both.contains("--server-metrics-url"),
        "{both}"
    );

    // PIDs stop at 2^22 on Linux, so this one names no process; the
    // error comes before anything is connected.
    let cli = Cli::try_parse_from([
        "pushpoll",
        "load",
        "--url",
        "ws://127.0.0.1:9/ws",
        "--server-pid",
        "4294967295",
    ])
    .unwrap();
    let e = dispatch(cli).await.unwrap_err().to_string();
    assert!(
        e.starts_with("--server-pid 4294967295: no readable /proc/4294967295/stat"),
        "{e}"
    );
}
