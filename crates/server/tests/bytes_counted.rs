//! The server's `pushpoll_bytes_*` for a transport equal what the client
//! counted at its own socket, handshake and framing included.

use std::collections::HashMap;
use std::net::SocketAddr;

use pushpoll_testkit::{metric, metrics, TestServer};
use pushpoll_wire::Kind;

use crate::support::*;

/// Waits until the server's counters for `transports` equal the client's
/// (they settle when the server side of the socket closes), then checks.
async fn assert_counts(addr: SocketAddr, transports: &[&str], client: (u64, u64)) {
    let sum = |m: &HashMap<String, f64>, name: &str| -> u64 {
        transports
            .iter()
            .map(|t| metric(m, name, Some(t)) as u64)
            .sum()
    };
    let mut last = (0, 0);
    for _ in 0..500 {
        let m = metrics(addr).await;
        last = (
            sum(&m, "pushpoll_bytes_received_total"),
            sum(&m, "pushpoll_bytes_sent_total"),
        );
        if last == client {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        last, client,
        "server (received, sent) vs client (written, read)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_bytes() {
    let server = TestServer::start_default().await;
    let stream = counted_tcp(server.addr).await;
    let counts = std::sync::Arc::clone(stream.counter());
    let mut ws = ws_connect_over(stream, server.addr, "/ws", Some("pushpoll.v1")).await;
    assert_eq!(ws_next(&mut ws, true).await, Got::Hello(0));
    publish_all(
        server.addr,
        &[(Kind::Text, b"one".to_vec()), (Kind::Binary, vec![2; 300])],
    )
    .await;
    ws_send(&mut ws, Kind::Text, &[b'3'; 60_000]).await;
    for _ in 0..3 {
        assert!(matches!(ws_next(&mut ws, true).await, Got::Msg(..)));
    }
    ws_close(ws).await;
    let (written, read) = (counts.written(), counts.read());
    assert!(written > 60_000 && read > 60_000);
    assert_counts(server.addr, &["ws"], (written, read)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_bytes() {
    let server = TestServer::start_default().await;
    publish_all(
        server.addr,
        &[(Kind::Text, b"a".to_vec()), (Kind::Text, b"b".to_vec())],
    )
    .await;
    let mut http = Http::connect(server.addr).await;
    let counts = std::sync::Arc::clone(&http.counts);
    http.get("/messages").await.poll();
    http.get("/messages?since=0").await.poll();
    http.get("/messages?since=1&wait=5").await.poll();
    http.get("/messages?since=2&wait=0.05").await.poll();
    assert_eq!(http.get("/messages?since=abc").await.status, 400);
    drop(http);
    // Wait for the client side to have closed, then compare.
    let (written, read) = (counts.written(), counts.read());
    assert!(written > 0 && read > 0);
    assert_counts(server.addr, &["short_poll", "long_poll"], (written, read)).await;
}
