//! Publishes far enough apart are written by the publisher itself to idle
//! WebSocket sessions (`transport::ws::direct`): frames arrive whole and in
//! order on both framings, bytes are counted, and a client that stops
//! reading is still disconnected by the slow-consumer rule (its socket
//! fills up during a direct write, which the session then finishes: the
//! client reads every frame whole).

use std::sync::Arc;
use std::time::Duration;

use pushpoll_testkit::{metric, metrics, metrics_until, within, TestServer};
use pushpoll_wire::Kind;

use crate::support::*;

/// Apart by more than the direct path's quiet time (10 ms).
const SPACING: Duration = Duration::from_millis(25);

fn payload(i: usize) -> (Kind, Vec<u8>) {
    // Small, mid-sized and near the largest message, text and binary.
    let len = [10, 30_000, 60_000][i % 3];
    let kind = if i % 2 == 0 { Kind::Text } else { Kind::Binary };
    let byte = b'a' + (i % 26) as u8;
    (kind, vec![byte; len])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spaced_publishes_are_written_directly_and_arrive_whole() {
    const MESSAGES: usize = 45;
    let server = TestServer::start_default().await;
    let addr = server.addr;
    let v1_tcp = counted_tcp(addr).await;
    let plain_tcp = counted_tcp(addr).await;
    // Reads only at the end, through a 4 KiB window: what it is sent waits
    // in the server's socket buffer meanwhile.
    let slow_tcp = small_window_tcp(addr).await;
    let counts = [&v1_tcp, &plain_tcp, &slow_tcp].map(|s| Arc::clone(s.counter()));
    let mut v1 = ws_connect_over(v1_tcp, addr, "/ws", Some("pushpoll.v1")).await;
    let mut plain = ws_connect_over(plain_tcp, addr, "/ws", None).await;
    let mut slow = ws_connect_over(slow_tcp, addr, "/ws", None).await;
    assert_eq!(ws_next(&mut v1, true).await, Got::Hello(0));

    let readers = tokio::spawn(async move {
        for i in 0..MESSAGES {
            let (kind, bytes) = payload(i);
            assert_eq!(
                ws_next(&mut v1, true).await,
                Got::Msg(i as u64 + 1, kind, bytes.clone())
            );
            assert_eq!(ws_next(&mut plain, false).await, Got::Plain(kind, bytes));
        }
        (v1, plain)
    });
    let mut http = Http::connect(addr).await;
    for i in 0..MESSAGES {
        tokio::time::sleep(SPACING).await;
        let (kind, bytes) = payload(i);
        assert_eq!(http.publish(kind, &bytes).await, i as u64 + 1);
    }
    let (v1, plain) = within("the readers to have everything", readers)
        .await
        .unwrap();
    for i in 0..MESSAGES {
        let (kind, bytes) = payload(i);
        assert_eq!(
            ws_next(&mut slow, false).await,
            Got::Plain(kind, bytes),
            "message {}",
            i + 1
        );
    }

    let m = metrics(addr).await;
    let direct = metric(&m, "pushpoll_ws_direct_deliveries_total", None);
    assert!(
        direct >= MESSAGES as f64,
        "{direct} of {} deliveries written directly",
        3 * MESSAGES
    );
    assert_eq!(
        metric(&m, "pushpoll_deliveries_total", Some("ws")),
        (3 * MESSAGES) as f64
    );
    // Every byte the clients read, handshakes included, is in the server's
    // count, whoever wrote it.
    let read: u64 = counts.iter().map(|c| c.read()).sum();
    assert_eq!(
        metric(&m, "pushpoll_bytes_sent_total", Some("ws")) as u64,
        read
    );
    for ws in [v1, plain, slow] {
        ws_close(ws).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_still_a_slow_consumer() {
    const PAYLOAD: usize = 16 * 1024;
    let server = TestServer::start(slow_consumer_config()).await;
    let addr = server.addr;
    let mut slow = slow_v1_ws(addr).await;
    let mut good = ws_connect(addr, "/ws", None).await;
    let mut http = Http::connect(addr).await;
    let body = vec![b'x'; PAYLOAD];
    let mut last = 0;
    for _ in 0..2000 {
        tokio::time::sleep(SPACING).await;
        last = http.publish(Kind::Text, &body).await;
        assert_eq!(
            ws_next(&mut good, false).await,
            Got::Plain(Kind::Text, body.clone())
        );
        let m = metrics(addr).await;
        if metric(&m, "pushpoll_slow_consumer_disconnects_total", Some("ws")) >= 1.0 {
            break;
        }
    }
    let m = metrics(addr).await;
    assert_eq!(
        metric(&m, "pushpoll_slow_consumer_disconnects_total", Some("ws")),
        1.0,
        "after {last} messages"
    );
    assert!(metric(&m, "pushpoll_ws_direct_deliveries_total", None) > 0.0);

    // The slow client reads everything up to its resume point, whole and in
    // order, then the Close naming that point.
    let got = read_slow_consumer(&mut slow, PAYLOAD).await;
    assert!(got < last);
    metrics_until(addr, "the slow session to end", |m| {
        metric(m, "pushpoll_connections", Some("ws")) == 1.0
    })
    .await;
}
