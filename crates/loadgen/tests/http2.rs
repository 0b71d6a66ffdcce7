//! `--http2`: long polls, short polls and SSE streams multiplexed on shared
//! HTTP/2 connections to pushpoll's server deliver every message exactly
//! once, in order; subscribers share `ceil(subscribers / N)` sockets;
//! requests are counted per stream and bytes at the shared sockets.
//! (That those bytes are the socket's, HPACK's table included, and equal
//! the server's own count, is proved in `src/http2.rs`'s unit test.)

use std::net::SocketAddr;

use pushpoll_loadgen::{run, Hooks, LoadError, RunResult};
use pushpoll_proxy::{Proxy, ProxyOpts};
use pushpoll_testkit::{metrics, TestServer};

use crate::support::{never, opts};

/// The server's `pushpoll_<name>_total{transport="t"}` (0 where absent).
async fn server_metric(addr: SocketAddr, name: &str, transport: &str) -> f64 {
    let key = format!("pushpoll_{name}_total{{transport=\"{transport}\"}}");
    metrics(addr).await.get(&key).copied().unwrap_or(0.0)
}

/// 12 subscribers, 5 streams to a connection (so 3 connections through a
/// counting proxy), 20 messages published straight to the server.
async fn h2_run(transport: &str, path: &str) -> (RunResult, u64, TestServer) {
    let server = TestServer::start_default().await;
    let proxy = Proxy::start(&ProxyOpts::to(server.addr)).await.unwrap();
    let url = format!("http://{}{path}", proxy.addr());
    // One WebSocket publisher: its frames reach the server in order (open-
    // loop POSTs may overtake one another on a loaded machine, which every
    // subscriber would then see as reordering).
    let publish = format!("ws://{}/ws", server.addr);
    let o = opts(&[
        "--url",
        &url,
        "--publish-url",
        &publish,
        "--transport",
        transport,
        "--http2",
        "--h2-streams-per-connection",
        "5",
        "--subscribers",
        "12",
        "--rate",
        "40",
        "--duration",
        "0.5",
        "--poll-interval",
        "0.1",
        "--long-poll-wait",
        "5",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    let connections = proxy.stats().connections;
    // The server lives on until the caller is done reading its metrics.
    (r, connections, server)
}

fn assert_exactly_once(r: &RunResult) {
    assert_eq!(r.subscribers_connected, 12, "{:?}", r.errors);
    assert_eq!(r.published, 20);
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.reordered, r.unexpected),
        (240, 0, 0, 0, 0),
        "{:?}",
        r.errors
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Bytes are counted (at the shared sockets), and per delivery they
    // are the run's sum over its deliveries.
    assert!(r.bytes_up > 0 && r.bytes_down > 0);
    let per = (r.bytes_up + r.bytes_down) as f64 / r.delivered as f64;
    assert_eq!(r.bytes_per_delivered, Some(per));
}

/// What the server counted for `transport` against the generator's sums:
/// the generator reads its counters when its subscribers stop, so the
/// server may have seen a little more since (the streams' resets, the
/// connections' GOAWAY, an answer no one read), never less.
/// (A long-polling socket's first poll has no `since`: a short poll, under
/// which the server counts the bytes until the next request.)
async fn assert_bytes_close_to_the_servers(r: &RunResult, server: SocketAddr, transports: &[&str]) {
    let (mut received, mut sent) = (0, 0);
    for t in transports {
        received += server_metric(server, "bytes_received", t).await as u64;
        sent += server_metric(server, "bytes_sent", t).await as u64;
    }
    let slack = 256 * r.subscribers;
    assert!(
        received >= r.bytes_up && received - r.bytes_up <= slack,
        "server received {received}, generator wrote {}",
        r.bytes_up
    );
    assert!(
        sent >= r.bytes_down && sent - r.bytes_down <= slack,
        "server sent {sent}, generator read {}",
        r.bytes_down
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_over_http2_delivers_exactly_once() {
    let (r, connections, server) = h2_run("long-poll", "/messages").await;
    assert_exactly_once(&r);
    assert_eq!(connections, 3, "12 subscribers, 5 streams to a connection");
    // One request per stream: the first poll of each, at least one more
    // per answer that carried messages, and the server saw them all.
    assert!(r.requests >= 12 * 2, "{}", r.requests);
    let seen = server_metric(server.addr, "requests", "long_poll").await as u64;
    assert!(
        r.requests >= seen && r.requests <= seen + 12,
        "{} vs {seen}",
        r.requests
    );
    assert_bytes_close_to_the_servers(&r, server.addr, &["long_poll", "short_poll"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_over_http2_delivers_exactly_once() {
    let (r, connections, server) = h2_run("short-poll", "/messages").await;
    assert_exactly_once(&r);
    assert_eq!(connections, 3);
    let seen = server_metric(server.addr, "requests", "short_poll").await as u64;
    assert!(
        r.requests >= seen && r.requests <= seen + 12,
        "{} vs {seen}",
        r.requests
    );
    assert!(r.empty_polls > 0);
    assert_bytes_close_to_the_servers(&r, server.addr, &["short_poll"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_over_http2_delivers_exactly_once() {
    let (r, connections, server) = h2_run("sse", "/events").await;
    assert_exactly_once(&r);
    assert_eq!(connections, 3);
    // One stream per subscriber, nothing more.
    assert_eq!(r.requests, 12);
    assert_eq!(server_metric(server.addr, "requests", "sse").await, 12.0);
    assert_bytes_close_to_the_servers(&r, server.addr, &["sse"]).await;
}

#[tokio::test]
async fn http2_is_refused_for_websocket_and_socketio_and_bad_counts() {
    for (transport, url) in [
        ("ws", "ws://127.0.0.1:9/ws"),
        ("socket.io", "http://127.0.0.1:9"),
    ] {
        let o = opts(&["--url", url, "--transport", transport, "--http2"]);
        let e = run(&o, Hooks::default(), never()).await.unwrap_err();
        assert!(
            matches!(
                e,
                LoadError::InvalidOption {
                    option: "http2",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("long-poll, short-poll, sse"), "{e}");
    }
    let o = opts(&[
        "--url",
        "http://127.0.0.1:9/messages",
        "--transport",
        "long-poll",
        "--http2",
        "--h2-streams-per-connection",
        "0",
    ]);
    let e = run(&o, Hooks::default(), never()).await.unwrap_err();
    assert!(e.to_string().contains("h2-streams-per-connection"), "{e}");
}
