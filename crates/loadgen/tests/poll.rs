//! Short and long polling against a known-good pushpoll-protocol server.

use std::sync::atomic::Ordering::Relaxed;

use pushpoll_loadgen::{run, Hooks};

use crate::support::http_hub::{Hub, HubOpts};
use crate::support::{never, opts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_delivers_everything_and_counts_every_request() {
    let hub = Hub::start(HubOpts::default()).await;
    let url = hub.url("/messages");
    let metrics = hub.url("/metrics");
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "long-poll",
        "--subscribers",
        "5",
        "--rate",
        "50",
        "--duration",
        "0.2",
        "--long-poll-wait",
        "5",
        "--server-metrics-url",
        &metrics,
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.transport, "long-poll");
    assert_eq!(r.long_poll_wait_s, Some(5.0));
    assert_eq!(r.poll_interval_s, None);
    assert_eq!(r.subscribers_connected, 5);
    assert_eq!(r.published, 10);
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.reordered, r.unexpected),
        (50, 0, 0, 0, 0)
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Each subscriber has at most one poll in flight when the run ends.
    let server = hub.state.polls.load(Relaxed);
    assert!(
        r.requests >= server && r.requests <= server + 5,
        "generator {} server {server}",
        r.requests
    );
    // At least the first poll of each, and one poll per answer that carried messages.
    assert!(r.requests >= 5 + 5);
    let answered = hub.state.empty_answers.load(Relaxed);
    assert!(
        r.empty_polls <= answered && r.empty_polls >= 5,
        "first polls are empty"
    );
    // The metrics endpoint was read twice, 0.25 s of "CPU" apart.
    assert_eq!(hub.state.scrapes.load(Relaxed), 2);
    assert_eq!(r.server_cpu_s, Some(0.25));
    assert_eq!(r.server_cpu_us_per_delivered, Some(5_000.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_delivers_everything_and_counts_empty_polls() {
    let hub = Hub::start(HubOpts::default()).await;
    let url = format!("http://{}", hub.addr);
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "short-poll",
        "--subscribers",
        "5",
        "--rate",
        "50",
        "--duration",
        "0.2",
        "--poll-interval",
        "0.05",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert!(
        r.url.ends_with("/messages"),
        "default path filled in: {}",
        r.url
    );
    assert_eq!(r.poll_interval_s, Some(0.05));
    assert_eq!(r.published, 10);
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.reordered, r.unexpected),
        (50, 0, 0, 0, 0)
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let server = hub.state.polls.load(Relaxed);
    assert!(
        r.requests >= server && r.requests <= server + 5,
        "generator {} server {server}",
        r.requests
    );
    let answered_empty = hub.state.empty_answers.load(Relaxed);
    assert!(r.empty_polls <= answered_empty && answered_empty <= r.empty_polls + 5);
    assert!(r.empty_polls >= 5);
    assert!(r.requests > r.empty_polls);
    assert!(r.bytes_up > 0 && r.bytes_down > 0);
    assert!(r.requests_per_delivered.unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_short_polling_costs_requests_and_bytes() {
    let hub = Hub::start(HubOpts::default()).await;
    let url = hub.url("/messages");
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "short-poll",
        "--subscribers",
        "3",
        "--rate",
        "50",
        "--duration",
        "0.1",
        "--poll-interval",
        "0.02",
        "--idle",
        "0.3",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!((r.delivered, r.lost), (15, 0));
    assert!(r.idle.requests > 0);
    assert!(r.idle.bytes > 0);
    assert!(r.idle.requests_per_subscriber_minute.unwrap() > 0.0);
    assert!(r.idle.bytes_per_subscriber_minute.unwrap() > 0.0);
    // Idle requests are reported apart, not in the active ones.
    let server = hub.state.polls.load(Relaxed);
    let total = r.requests + r.idle.requests;
    assert!(
        total >= server && total <= server + 3,
        "generator {total} server {server}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_publishers_send_the_template_with_its_content_type() {
    let hub = Hub::start(HubOpts::default()).await;
    let url = hub.url("/messages");
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "long-poll",
        "--subscribers",
        "2",
        "--rate",
        "50",
        "--duration",
        "0.1",
        "--grace",
        "0.5",
        "--publish-template",
        r#"{"room":"lobby","text":"{marker}","from":{id}}"#,
        "--publish-content-type",
        "application/json",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(
        (r.published, r.delivered, r.lost),
        (5, 10, 0),
        "{:?}",
        r.errors
    );
    let posted = hub.state.posted.lock().unwrap().clone();
    assert_eq!(posted.len(), 5);
    for (content_type, body) in &posted {
        assert_eq!(content_type, "application/json");
        let v: serde_json::Value = serde_json::from_slice(body).expect("the body is JSON");
        assert_eq!(v["room"], "lobby");
        assert_eq!(
            v["from"], 2,
            "the publisher's {{id}} follows the 2 subscribers'"
        );
        assert!(v["text"].as_str().unwrap().starts_with("~pp1."));
    }
    // The payload counted is the message, not its wrapper.
    assert_eq!(r.payload_bytes_per_delivered, Some(64.0));
}
