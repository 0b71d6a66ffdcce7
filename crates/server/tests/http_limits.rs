//! Limits and error answers of the HTTP endpoints: every 4xx/5xx is JSON.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{metric, metrics, within, TestServer};
use pushpoll_wire::Kind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let server = TestServer::start_default().await;
    let mut http = Http::connect(server.addr).await;
    let reply = http
        .request(
            Method::POST,
            "/messages",
            &[],
            Bytes::from(vec![b'a'; 64 * 1024 + 1]),
        )
        .await;
    assert_eq!(reply.status, 413);
    assert!(reply.error().contains("65536"), "{}", reply.error());
    // The body was read to its end, so the connection serves on.
    assert_eq!(http.publish(Kind::Text, &[b'a'; 64 * 1024]).await, 1);

    // A body declared far too big is refused unread, and the socket closed.
    let answer = raw(
        server.addr,
        b"POST /messages HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
}

#[tokio::test]
async fn text_must_be_utf8_and_binary_is_octet_stream() {
    let server = TestServer::start_default().await;
    let mut http = Http::connect(server.addr).await;
    let bad = http
        .request(
            Method::POST,
            "/messages",
            &[("content-type", "text/plain")],
            Bytes::from_static(&[0xff, 0xfe]),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.error().contains("application/octet-stream"),
        "{}",
        bad.error()
    );
    let no_type = http
        .request(
            Method::POST,
            "/messages",
            &[],
            Bytes::from_static(&[0xc3, 0x28]),
        )
        .await;
    assert_eq!(no_type.status, 400);

    let reply = http
        .request(
            Method::POST,
            "/messages",
            &[("content-type", "Application/Octet-Stream; x=y")],
            Bytes::from_static(&[0xff, 0x00]),
        )
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json(), serde_json::json!({"seq": 1}));
    let poll = http.get("/messages?since=0").await.poll();
    assert_eq!(poll.messages[0].binary.as_deref(), Some("/wA="));
}

#[tokio::test]
async fn oversized_request_heads_are_431() {
    let server = TestServer::start_default().await;
    let mut http = Http::connect(server.addr).await;
    let big = "v".repeat(20 * 1024);
    let reply = http
        .request(Method::GET, "/healthz", &[("x-big", &big)], Bytes::new())
        .await;
    assert_eq!(reply.status, 431);
    assert!(reply.error().contains("16384"), "{}", reply.error());

    let names: Vec<String> = (0..70).map(|i| format!("x-h{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let reply = Http::connect(server.addr)
        .await
        .request(Method::GET, "/healthz", &headers, Bytes::new())
        .await;
    assert_eq!(reply.status, 431);
    assert!(reply.error().contains("64"), "{}", reply.error());
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let server = TestServer::start_default().await;
    // `/` is the chat page now (page.rs).
    for path in ["/nope", "/messages/1", "/chat"] {
        let reply = get(server.addr, path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.error().contains("/ws"));
    }
    let mut http = Http::connect(server.addr).await;
    for (method, path, allow) in [
        (Method::DELETE, "/messages", "GET, POST"),
        (Method::PUT, "/events", "GET"),
        (Method::POST, "/metrics", "GET"),
        (Method::POST, "/ws", "GET"),
    ] {
        let reply = http.request(method.clone(), path, &[], Bytes::new()).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("allow"), allow);
        let _ = reply.error();
    }
}

#[tokio::test]
async fn bad_websocket_handshakes() {
    let server = TestServer::start_default().await;
    let mut http = Http::connect(server.addr).await;
    let plain = http.get("/ws").await;
    assert_eq!(plain.status, 426);
    assert_eq!(plain.header("upgrade"), "websocket");
    let _ = plain.error();

    let key = ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    let cases: [(&[(&str, &str)], u16); 4] = [
        (
            &[
                ("upgrade", "websocket"),
                ("connection", "upgrade"),
                ("sec-websocket-version", "8"),
                key,
            ],
            426,
        ),
        (
            &[
                ("upgrade", "websocket"),
                ("connection", "upgrade"),
                ("sec-websocket-version", "13"),
            ],
            400,
        ),
        (
            &[
                ("upgrade", "websocket"),
                ("connection", "keep-alive"),
                ("sec-websocket-version", "13"),
                key,
            ],
            400,
        ),
        (
            &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "short=="),
            ],
            400,
        ),
    ];
    for (headers, status) in cases {
        let reply = Http::connect(server.addr)
            .await
            .request(Method::GET, "/ws", headers, Bytes::new())
            .await;
        assert_eq!(reply.status, status, "{headers:?}");
        let _ = reply.error();
    }
    let bad_since = Http::connect(server.addr)
        .await
        .request(
            Method::GET,
            "/ws?since=x",
            &[
                ("upgrade", "websocket"),
                ("connection", "upgrade"),
                ("sec-websocket-version", "13"),
                key,
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(bad_since.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_over_the_limit_close_with_1009() {
    let server = TestServer::start(Config {
        limits: Limits {
            ws_max_message_bytes: 1024,
            ws_max_frame_bytes: 1024,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let mut ws = ws_connect(server.addr, "/ws", None).await;
    ws_send(&mut ws, Kind::Binary, &[0; 1025]).await;
    let Got::Close(Some((code, _))) = ws_next(&mut ws, false).await else {
        panic!("expected a close");
    };
    assert_eq!(code, 1009);
    let m = metrics(server.addr).await;
    assert_eq!(metric(&m, "pushpoll_messages_published_total", None), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_limit_is_503() {
    let server = TestServer::start(Config {
        limits: Limits {
            max_connections: 1,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let mut holder = Http::connect(server.addr).await;
    assert_eq!(holder.get("/healthz").await.status, 200);
    let answer = raw(server.addr, b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("connection: close"));
    assert!(answer.ends_with("retry later\"}"), "{answer}");
    drop(holder);
    // Once the holder is gone its permit is free again.
    within("the permit to come back", async {
        loop {
            let answer = raw(
                server.addr,
                b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            )
            .await;
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_request_head_that_never_ends_is_dropped() {
    let server = TestServer::start_default().await;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap_or(0);
    assert!(started.elapsed() >= Duration::from_secs(10));
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_socket_is_closed() {
    let server = TestServer::start_default().await;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok"));
    let started = tokio::time::Instant::now();
    let n = s.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "closed without another answer");
    assert!(started.elapsed() >= Duration::from_secs(10));
}
