//! `stop` (Ctrl-C) ends a run early and still returns what was measured.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use pushpoll_loadgen::{run, Hooks};

use crate::support::opts;
use crate::support::ws_relay::{Relay, Rules};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_publishing_and_keeps_the_partial_result() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let received = relay.received.clone();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "3",
        "--rate",
        "50",
        "--duration",
        "1000",
    ]);
    // Stop once the relay has seen 5 messages: a count, not a time.
    let stop = async move {
        while received.load(Relaxed) < 5 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let r = run(&o, Hooks::default(), stop).await.unwrap();
    assert!(
        r.published >= 5 && r.published < 50_000,
        "published {}",
        r.published
    );
    assert_eq!(r.publish_errors, 0);
    assert_eq!(r.expected_deliveries, 3 * r.published);
    assert_eq!(
        r.delivered, r.expected_deliveries,
        "the grace period let the last ones arrive"
    );
    assert_eq!(r.lost, 0);
    assert!(r.active_s < r.duration_s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_before_publishing_returns_an_empty_run() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "2",
        "--rate",
        "50",
        "--duration",
        "1000",
        "--idle",
        "1000",
    ]);
    let r = run(&o, Hooks::default(), async {}).await.unwrap();
    assert_eq!((r.published, r.expected_deliveries, r.delivered), (0, 0, 0));
    assert_eq!(r.active_s, 0.0);
    assert_eq!(r.requests_per_delivered, None);
}
