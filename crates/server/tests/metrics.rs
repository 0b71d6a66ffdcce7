//! `/metrics` exposes every name of the protocol and counts what happened;
//! `/healthz` says ok.

use pushpoll_testkit::{metric, metrics_until, parse_metrics, TestServer};
use pushpoll_wire::Kind;

use crate::support::*;

const NAMES: [&str; 13] = [
    "pushpoll_connections",
    "pushpoll_messages_published_total",
    "pushpoll_deliveries_total",
    "pushpoll_requests_total",
    "pushpoll_bytes_received_total",
    "pushpoll_bytes_sent_total",
    "pushpoll_slow_consumer_disconnects_total",
    "pushpoll_gap_notices_total",
    "pushpoll_ws_direct_deliveries_total",
    "pushpoll_history_messages",
    "pushpoll_last_seq",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
];

#[tokio::test]
async fn exposes_every_name() {
    let server = TestServer::start_default().await;
    let reply = get(server.addr, "/metrics").await;
    assert_eq!(
        reply.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    for name in NAMES {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
    }
    let m = parse_metrics(&text);
    for t in ["ws", "sse", "long_poll", "short_poll"] {
        for name in [
            "pushpoll_connections",
            "pushpoll_deliveries_total",
            "pushpoll_gap_notices_total",
        ] {
            metric(&m, name, Some(t));
        }
    }
    for t in ["ws", "sse", "long_poll", "short_poll", "publish", "other"] {
        for name in [
            "pushpoll_requests_total",
            "pushpoll_bytes_received_total",
            "pushpoll_bytes_sent_total",
        ] {
            metric(&m, name, Some(t));
        }
    }
    assert!(metric(&m, "process_resident_memory_bytes", None) > 0.0);
    assert!(metric(&m, "process_cpu_seconds_total", None) > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_publishes_and_deliveries() {
    let server = TestServer::start_default().await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(Sse::open(server.addr, "/events", &[]).await);
    }
    let mut ws = ws_connect(server.addr, "/ws", None).await;
    let msgs: Vec<_> = (0..5)
        .map(|i| (Kind::Text, format!("n{i}").into_bytes()))
        .collect();
    publish_all(server.addr, &msgs).await;
    for sse in &mut streams {
        sse.messages(5).await;
    }
    for _ in 0..5 {
        ws_next(&mut ws, false).await;
    }
    get(server.addr, "/messages?since=2").await.poll();

    let m = metrics_until(server.addr, "deliveries to be counted", |m| {
        metric(m, "pushpoll_deliveries_total", Some("sse")) == 15.0
            && metric(m, "pushpoll_deliveries_total", Some("ws")) == 5.0
    })
    .await;
    assert_eq!(metric(&m, "pushpoll_messages_published_total", None), 5.0);
    assert_eq!(metric(&m, "pushpoll_last_seq", None), 5.0);
    assert_eq!(metric(&m, "pushpoll_history_messages", None), 5.0);
    assert_eq!(
        metric(&m, "pushpoll_deliveries_total", Some("short_poll")),
        3.0
    );
    assert_eq!(metric(&m, "pushpoll_requests_total", Some("publish")), 5.0);
    assert_eq!(metric(&m, "pushpoll_requests_total", Some("sse")), 3.0);
    assert_eq!(metric(&m, "pushpoll_requests_total", Some("ws")), 1.0);
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("short_poll")),
        1.0
    );
    assert_eq!(metric(&m, "pushpoll_connections", Some("sse")), 3.0);
    assert_eq!(metric(&m, "pushpoll_connections", Some("ws")), 1.0);
    assert!(metric(&m, "pushpoll_bytes_received_total", Some("publish")) > 0.0);
    assert!(metric(&m, "pushpoll_bytes_sent_total", Some("sse")) > 0.0);

    drop(streams);
    ws_close(ws).await;
    metrics_until(server.addr, "the gauges to fall", |m| {
        metric(m, "pushpoll_connections", Some("sse")) == 0.0
            && metric(m, "pushpoll_connections", Some("ws")) == 0.0
    })
    .await;
}

#[tokio::test]
async fn healthz() {
    let server = TestServer::start_default().await;
    let reply = get(server.addr, "/healthz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], b"ok");
}
