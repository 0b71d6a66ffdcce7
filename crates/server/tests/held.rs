//! The held-request front (`conn/held.rs`): polls and SSE streams over
//! HTTP/1.1 without hyper, and the hand-over to hyper for anything else on
//! the same connection. Raw sockets, so the bytes on the wire are checked.

use std::time::Duration;

use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{metric, metrics_until, read_to_close, within, TestServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::hostile_support::status_of;

/// Each answer's status line in `wire`, in order.
fn statuses(wire: &str) -> Vec<&str> {
    wire.match_indices("HTTP/1.1 ")
        .map(|(at, _)| &wire[at + 9..at + 12])
        .collect()
}

#[tokio::test]
async fn pipelined_polls_then_a_publish_on_one_connection() {
    let server = TestServer::start_default().await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    // Two polls the front answers, then a publish it hands to hyper with
    // the bytes it already read: all three answered, in order.
    s.write_all(
        b"GET /messages HTTP/1.1\r\nhost: x\r\n\r\n\
          GET /messages?since=0 HTTP/1.1\r\nhost: x\r\n\r\n\
          POST /messages HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\n\
          content-length: 2\r\nconnection: close\r\n\r\nhi",
    )
    .await
    .unwrap();
    let wire = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
    assert_eq!(statuses(&wire), ["200", "200", "201"], "{wire}");
    let first = &wire[..wire.find("\r\n\r\n").unwrap()];
    assert!(
        first.contains("\r\ncontent-type: application/json"),
        "{first}"
    );
    assert!(first.contains("\r\ncontent-length: "), "{first}");
    assert!(first.contains("\r\ndate: "), "{first}");
    assert!(wire.contains(r#"{"seq":1}"#), "{wire}");
}

#[tokio::test]
async fn connection_close_is_answered_and_honoured() {
    let server = TestServer::start_default().await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /messages HTTP/1.1\r\nhost: x\r\nconnection: Keep-Alive, Close\r\n\r\n")
        .await
        .unwrap();
    let wire = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
    assert_eq!(status_of(&wire), Some(200), "{wire}");
    assert!(wire.contains("\r\nconnection: close\r\n"), "{wire}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_ends_its_held_poll() {
    let server = TestServer::start_default().await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /messages?since=0&wait=30 HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    metrics_until(server.addr, "a held long poll", |m| {
        metric(m, "pushpoll_connections", Some("long_poll")) == 1.0
    })
    .await;
    drop(s);
    metrics_until(server.addr, "the hold to end with its client", |m| {
        metric(m, "pushpoll_connections", Some("long_poll")) == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_stream_is_chunked_and_a_hang_up_ends_it() {
    let server = TestServer::start_default().await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    within("the SSE head and opening", async {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\n\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early");
            head.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\ncontent-type: text/event-stream\r\n"),
        "{head}"
    );
    // The opening is one chunk: its size in hex, then the event stream.
    let body = &head[head.find("\r\n\r\n").unwrap() + 4..];
    let (size, rest) = body.split_once("\r\n").unwrap();
    assert_eq!(
        usize::from_str_radix(size, 16).unwrap(),
        rest.len() - 2,
        "{body:?}"
    );
    metrics_until(server.addr, "an open stream", |m| {
        metric(m, "pushpoll_connections", Some("sse")) == 1.0
    })
    .await;
    drop(s);
    metrics_until(server.addr, "the stream to end with its client", |m| {
        metric(m, "pushpoll_connections", Some("sse")) == 0.0
    })
    .await;
}

#[tokio::test]
async fn a_head_that_never_ends_is_cut_after_header_read_timeout() {
    let server = TestServer::start(Config {
        limits: Limits {
            header_read_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /messages HTTP/1.1\r\nhost: x\r\n\r\nGET /mess")
        .await
        .unwrap();
    let wire = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
    assert_eq!(statuses(&wire), ["200"], "{wire}");
}

#[tokio::test]
async fn what_the_front_does_not_take_gets_hyper_s_answers() {
    let server = TestServer::start_default().await;
    // HTTP/1.0, a body on a GET, an unknown path: each as before.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /messages HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let wire = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
    assert!(wire.starts_with("HTTP/1.0 200 OK\r\n"), "{wire}");
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /nowhere HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let wire = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
    assert_eq!(status_of(&wire), Some(404), "{wire}");
    // A head httparse refuses is hyper's 400.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /messages HTTP/1.1\r\nbad header\r\n\r\n")
        .await
        .unwrap();
    let wire = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
    assert_eq!(status_of(&wire), Some(400), "{wire}");
}

#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_answered() {
    let server = TestServer::start_default().await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    // A leading blank line (RFC 9112 §2.2) and CRLF split across writes.
    for b in b"\r\nGET /messages HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n" {
        s.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let wire = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
    assert_eq!(statuses(&wire), ["200"], "{wire}");
    assert!(wire.contains("\"last_seq\":0"), "{wire}");
}

/// Bytes that are not HTTP (a TLS hello to a plain server) are refused at
/// once, as hyper refuses them, not after `header_read_timeout`: the client
/// is waiting for an answer and sends nothing more.
#[tokio::test]
async fn bytes_that_are_not_http_are_refused_at_once() {
    let server = TestServer::start(Config {
        limits: Limits {
            header_read_timeout: Duration::from_secs(3600),
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03GET /messages")
        .await
        .unwrap();
    let wire = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
    assert_eq!(status_of(&wire), Some(400), "{wire}");
}
