//! A push subscriber that stops reading is disconnected once it is more than
//! `max_subscriber_lag` behind, told where to resume, and counted; a
//! subscriber that keeps reading gets everything.

use std::net::SocketAddr;

use pushpoll_testkit::{metric, metrics, metrics_until, within, TestServer};
use pushpoll_wire::Kind;
use tokio::sync::watch;

use crate::support::*;

const PAYLOAD: usize = 16 * 1024;

/// Publishes big messages, a few at a time, each time waiting for the good
/// subscriber (which reports the last seq it saw on `seen`) to have them,
/// until the server has disconnected a slow consumer of `transport`.
/// Returns the last seq published.
async fn publish_until_disconnect(
    addr: SocketAddr,
    transport: &str,
    seen: &mut watch::Receiver<u64>,
) -> u64 {
    let mut http = Http::connect(addr).await;
    let payload = vec![b'x'; PAYLOAD];
    let mut last = 0;
    for round in 0..1000 {
        for _ in 0..4 {
            last = http.publish(Kind::Text, &payload).await;
        }
        within(
            "the good subscriber to keep up",
            seen.wait_for(|&s| s >= last),
        )
        .await
        .unwrap();
        if round % 4 == 3 {
            let m = metrics(addr).await;
            if metric(
                &m,
                "pushpoll_slow_consumer_disconnects_total",
                Some(transport),
            ) >= 1.0
            {
                return last;
            }
        }
    }
    panic!("the server never gave up on a client that does not read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_never_reads_is_closed_with_1008() {
    let server = TestServer::start(slow_consumer_config()).await;
    let addr = server.addr;
    let mut slow = slow_v1_ws(addr).await;
    let mut good = ws_connect(addr, "/ws", None).await;
    let (seen_tx, mut seen) = watch::channel(0u64);
    let reader = tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            match ws_next(&mut good, false).await {
                Got::Plain(Kind::Text, p) if p.len() == PAYLOAD => {
                    n += 1;
                    seen_tx.send_replace(n);
                }
                other => panic!("good client got {other:?}"),
            }
        }
    });

    let last = publish_until_disconnect(addr, "ws", &mut seen).await;
    assert_eq!(*seen.borrow(), last, "the good client got every message");

    // Now the slow client reads: everything up to its resume point, in
    // order, then the Close that names that point.
    let got = read_slow_consumer(&mut slow, PAYLOAD).await;
    assert!(got < last);

    let m = metrics_until(addr, "the slow session to end", |m| {
        metric(m, "pushpoll_connections", Some("ws")) == 1.0
    })
    .await;
    assert_eq!(
        metric(&m, "pushpoll_slow_consumer_disconnects_total", Some("ws")),
        1.0
    );
    reader.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_stream_that_is_not_read_ends_with_a_gap() {
    let server = TestServer::start(slow_consumer_config()).await;
    let addr = server.addr;
    let http = Http::over(small_window_tcp(addr).await, addr).await;
    let mut slow = Sse::open_over(http, "/events", &[]).await;
    let mut good = Sse::open(addr, "/events", &[]).await;
    let (seen_tx, mut seen) = watch::channel(0u64);
    let reader = tokio::spawn(async move {
        loop {
            let e = good.next().await.expect("the good stream goes on");
            seen_tx.send_replace(e.seq().unwrap());
        }
    });

    let last = publish_until_disconnect(addr, "sse", &mut seen).await;
    assert_eq!(*seen.borrow(), last);

    let mut got = 0;
    let gap = loop {
        let e = slow.next().await.expect("a gap before the end");
        if e.event == "gap" {
            break e;
        }
        assert_eq!(e.seq(), Some(got + 1));
        got += 1;
    };
    let data: serde_json::Value = serde_json::from_str(&gap.data).unwrap();
    assert_eq!(data["requested_since"].as_u64(), Some(got));
    assert!(slow.next().await.is_none(), "the stream ends after the gap");
    let m = metrics(addr).await;
    assert_eq!(
        metric(&m, "pushpoll_slow_consumer_disconnects_total", Some("sse")),
        1.0
    );
    reader.abort();
}
