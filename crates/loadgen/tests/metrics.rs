//! `--metrics-addr`: the generator's own `/metrics`, scraped while a run
//! goes on and once it is over; the last scrape must equal the result.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushpoll_loadgen::{run, Hooks, LoadError, RunResult};
use pushpoll_testkit::{dead_addr, metrics, Metrics, TestServer};
use tokio::sync::oneshot;

use crate::support::opts;

/// The one sample named `name` whose labels include `labels` (its value),
/// whatever other labels (run id, transport) it carries.
fn get(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    let hits: Vec<f64> = m
        .iter()
        .filter(|(k, _)| {
            let (n, rest) = k.split_once('{').unwrap_or((k, ""));
            n == name
                && labels
                    .iter()
                    .all(|(l, v)| rest.contains(&format!("{l}=\"{v}\"")))
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(hits.len(), 1, "{name} {labels:?} in {m:?}");
    hits[0]
}

/// A long-poll run (requests and idle requests to count) against pushpoll's
/// server, with the endpoint on port 0; returns the scrapes taken during
/// the run, the first scrape after it, and the result.
async fn scraped_run(extra: &[&str]) -> (Vec<Metrics>, Metrics, RunResult) {
    let server = TestServer::start_default().await;
    let url = format!("http://{}/messages", server.addr);
    let mut args = vec![
        "--url",
        &url,
        "--transport",
        "long-poll",
        "--subscribers",
        "4",
        "--rate",
        "40",
        "--duration",
        "0.5",
        "--idle",
        "0.3",
        "--grace",
        "2",
        "--metrics-addr",
        "127.0.0.1:0",
        // Long enough that the test, not the clock, ends it (`stop`).
        "--metrics-linger",
        "60",
    ];
    args.extend_from_slice(extra);
    let o = opts(&args);
    let (addr_tx, addr_rx) = oneshot::channel();
    let addr_tx = Mutex::new(Some(addr_tx));
    let hooks = Hooks {
        metrics_bound: Some(Arc::new(move |a| {
            if let Some(tx) = addr_tx.lock().unwrap().take() {
                let _ = tx.send(a);
            }
        })),
        ..Hooks::default()
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        run(&o, hooks, async {
            let _ = stop_rx.await;
        })
        .await
    });
    let addr = addr_rx.await.expect("the endpoint was bound");
    let mut during = Vec::new();
    let last = pushpoll_testkit::within_for(Duration::from_secs(30), "the run's end", async {
        loop {
            let m = metrics(addr).await;
            if get(&m, "pushpoll_load_run_finished", &[]) == 1.0 {
                return m;
            }
            during.push(m);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The endpoint still serves the same figures while it lingers.
    assert_eq!(metrics(addr).await, last);
    // Ctrl-C ends the linger.
    let _ = stop_tx.send(());
    let r = task.await.unwrap().unwrap();
    (during, last, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_scrape_equals_the_result() {
    let (during, last, r) = scraped_run(&[]).await;
    assert_eq!(r.subscribers_connected, 4);
    assert!(r.delivered > 0 && r.lost == 0, "{r:?}");

    let labels = [("run_id", r.run_id.as_str()), ("transport", "long-poll")];
    let m = |name| get(&last, name, &labels);
    assert_eq!(m("pushpoll_load_delivered_total"), r.delivered as f64);
    assert_eq!(m("pushpoll_load_published_total"), r.published as f64);
    assert_eq!(m("pushpoll_load_subscribers_connected"), 4.0);
    // Counted from the start of the run: the idle window's are in too.
    assert_eq!(
        m("pushpoll_load_requests_total"),
        (r.requests + r.idle.requests) as f64
    );
    let up = get(&last, "pushpoll_load_bytes_total", &[("direction", "up")]);
    let down = get(&last, "pushpoll_load_bytes_total", &[("direction", "down")]);
    assert_eq!(up + down, (r.bytes_up + r.bytes_down + r.idle.bytes) as f64);
    assert!(up > 0.0 && down > up, "polls are small, answers bigger");
    assert_eq!(
        m("pushpoll_load_latency_seconds_count"),
        r.latency_us.count as f64
    );
    assert_eq!(
        get(
            &last,
            "pushpoll_load_latency_seconds_bucket",
            &[("le", "+Inf")]
        ),
        r.latency_us.count as f64
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(!last
        .keys()
        .any(|k| k.starts_with("pushpoll_load_errors_total")));

    // Scrapes during the run saw it unfinished, with counts that only grew
    // up to the result's.
    assert!(!during.is_empty(), "the endpoint served during the run");
    let delivered: Vec<f64> = during
        .iter()
        .map(|s| get(s, "pushpoll_load_delivered_total", &[]))
        .collect();
    assert!(delivered.windows(2).all(|w| w[0] <= w[1]), "{delivered:?}");
    assert!(*delivered.last().unwrap() <= r.delivered as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_served_by_kind() {
    // Publishes to a port nobody listens on: every one fails to connect.
    let nowhere = format!("http://{}/messages", dead_addr());
    let (_, last, r) = scraped_run(&["--publish-url", &nowhere, "--timeout", "1"]).await;
    assert_eq!(r.published, 0);
    assert!(!r.errors.is_empty());
    for (kind, n) in &r.errors {
        assert_eq!(
            get(&last, "pushpoll_load_errors_total", &[("kind", kind)]),
            *n as f64,
            "{kind}"
        );
    }
    assert_eq!(get(&last, "pushpoll_load_delivered_total", &[]), 0.0);
}

#[tokio::test]
async fn a_taken_metrics_addr_fails_before_the_run() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    // Nothing listens at the target either: the endpoint is checked first.
    let url = format!("ws://{}/ws", dead_addr());
    let o = opts(&["--url", &url, "--metrics-addr", &addr]);
    let e = run(&o, Hooks::default(), std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::InvalidOption {
                option: "metrics-addr",
                ..
            }
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("--metrics-addr: cannot listen on"),
        "{text}"
    );
    assert!(text.contains(&addr), "{text}");

    let o = opts(&[
        "--url",
        &url,
        "--metrics-addr",
        "127.0.0.1:0",
        "--metrics-linger=-1",
    ]);
    let e = run(&o, Hooks::default(), std::future::pending())
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("--metrics-linger: "), "{e}");
}
