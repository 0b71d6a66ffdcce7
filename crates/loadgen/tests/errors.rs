//! Failures during a run are data, not errors.

use pushpoll_loadgen::{run, Hooks, RunResult};
use pushpoll_testkit::dead_addr;

use crate::support::http_hub::{Hub, HubOpts};
use crate::support::{never, opts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted_and_the_run_still_reports() {
    // Bind then drop a listener: nothing listens on that port any more.
    let addr = dead_addr();
    let url = format!("ws://{addr}/ws");
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "3",
        "--rate",
        "20",
        "--duration",
        "0.1",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.subscribers_connected, 0);
    assert_eq!(
        r.errors.get("connect_refused"),
        Some(&9),
        "3 ramp-up attempts each: {:?}",
        r.errors
    );
    assert_eq!(r.published, 0);
    assert_eq!(r.publish_errors, 2);
    let publish_failures: u64 = r
        .errors
        .iter()
        .filter(|(k, _)| k.starts_with("publish_"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        publish_failures, 2,
        "one publish_ error per failed message: {:?}",
        r.errors
    );
    assert_eq!((r.expected_deliveries, r.delivered, r.lost), (0, 0, 0));
    assert_eq!(r.requests, 0, "no request was ever sent");
    assert_eq!(r.requests_per_delivered, None);
    assert_eq!(r.bytes_per_subscriber_second, None);
}

/// 4 long-poll subscribers of a hub that misbehaves as `hub` says, 50
/// messages a second for `duration` seconds.
async fn four_long_polls_at_50_per_second(hub: HubOpts, duration: &str) -> RunResult {
    let hub = Hub::start(hub).await;
    let url = hub.url("/messages");
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "long-poll",
        "--subscribers",
        "4",
        "--rate",
        "50",
        "--duration",
        duration,
        "--grace",
        "0.5",
    ]);
    run(&o, Hooks::default(), never()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_publishes_that_were_relayed_are_unexpected() {
    // Every 3rd POST is relayed but answered 500: seqs 2, 5 and 8 of 10.
    let r = four_long_polls_at_50_per_second(
        HubOpts {
            fail_every_nth_post: Some(3),
            ..HubOpts::default()
        },
        "0.2",
    )
    .await;
    assert_eq!(r.published, 7);
    assert_eq!(r.publish_errors, 3);
    assert_eq!(
        r.errors.get("publish_bad_status_500"),
        Some(&3),
        "{:?}",
        r.errors
    );
    assert_eq!(r.expected_deliveries, 28);
    assert_eq!((r.delivered, r.lost), (28, 0));
    assert_eq!(r.unexpected, 12);
    assert_eq!(r.duplicated, 0);
    assert_eq!((r.planned_deliveries, r.unsent), (40, 12));
    // The 12 unacknowledged arrivals have no latency sample.
    assert_eq!(r.latency_us.count, r.delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_publishes_are_unsent_deliveries() {
    // Every 3rd POST is refused with 503 and dropped: a third of the chat
    // never arrives, and the result must say so beside `lost`.
    let r = four_long_polls_at_50_per_second(
        HubOpts {
            refuse_every_nth_post: Some(3),
            ..HubOpts::default()
        },
        "0.3",
    )
    .await;
    assert_eq!((r.published, r.publish_errors), (10, 5));
    assert_eq!(
        r.errors.get("publish_bad_status_503"),
        Some(&5),
        "{:?}",
        r.errors
    );
    assert_eq!(r.planned_deliveries, 4 * 15);
    assert_eq!(r.expected_deliveries, 4 * 10);
    assert_eq!(r.unsent, 4 * 5);
    assert_eq!((r.delivered, r.lost, r.unexpected), (40, 0, 0));
    assert_eq!(r.latency_us.count, r.delivered);
}
