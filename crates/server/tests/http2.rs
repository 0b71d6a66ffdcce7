//! HTTP/2 with prior knowledge on the plain port, beside HTTP/1.1 and
//! WebSocket clients: polls and SSE streams multiplexed on one socket, the
//! stream limit, the idle limit, shutdown (GOAWAY, held polls answered, SSE
//! ended), WebSocket refused, and the socket's bytes counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{
    metric, metrics, metrics_until, read_until_closed, within, within_for, Counts, TestServer,
};
use pushpoll_wire::poll::PollResponse;
use pushpoll_wire::sse::{Event, Parser};
use pushpoll_wire::Kind;
use tokio::task::JoinHandle;

use crate::support::*;

/// The limit of [`within_for`] in place of [`within`]'s, with room for
/// holds of paused-clock tests (the clock jumps, so a long patience costs
/// no real time).
const PAUSED_PATIENCE: Duration = Duration::from_secs(600);

/// One HTTP/2 connection (prior knowledge), its bytes counted at the socket.
struct H2 {
    tx: SendRequest<Empty<Bytes>>,
    counts: Arc<Counts>,
    conn: JoinHandle<Result<(), hyper::Error>>,
    addr: SocketAddr,
}

impl H2 {
    async fn connect(addr: SocketAddr) -> H2 {
        let stream = counted_tcp(addr).await;
        let counts = Arc::clone(stream.counter());
        let (tx, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream))
            .await
            .unwrap();
        H2 {
            tx,
            counts,
            conn: tokio::spawn(conn),
            addr,
        }
    }

    fn request(&self, path: &str) -> Request<Empty<Bytes>> {
        Request::get(format!("http://{}{path}", self.addr))
            .body(Empty::new())
            .unwrap()
    }

    /// Sends a GET on a new stream; the answer's body is left unread.
    async fn send(&self, path: &str) -> hyper::Response<Incoming> {
        let mut tx = self.tx.clone();
        let req = self.request(path);
        within_for(PAUSED_PATIENCE, "an HTTP/2 answer", async move {
            tx.ready().await.unwrap();
            tx.send_request(req).await.unwrap()
        })
        .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Bytes) {
        let resp = self.send(path).await;
        assert_eq!(resp.version(), Version::HTTP_2);
        let status = resp.status();
        let body = within_for(PAUSED_PATIENCE, "a body", resp.into_body().collect())
            .await
            .unwrap()
            .to_bytes();
        (status, body)
    }

    async fn poll(&self, path: &str) -> PollResponse {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        serde_json::from_slice(&body).unwrap()
    }
}

/// Reads SSE events from a streaming body until `n` messages came.
async fn sse_messages(body: &mut Incoming, n: usize) -> Vec<(Kind, Vec<u8>)> {
    let mut parser = Parser::new(1 << 20);
    let mut events: Vec<Event> = Vec::new();
    let mut got = Vec::new();
    while got.len() < n {
        let frame = within("an SSE chunk", body.frame())
            .await
            .expect("the stream ended early")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            parser.feed(&data, &mut events).unwrap();
        }
        for ev in events.drain(..) {
            if ev.id.is_some() {
                got.push(ev.payload().unwrap());
            }
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prior_knowledge_beside_http1_and_websocket() {
    let server = TestServer::start_default().await;
    let addr = server.addr;
    let h2 = H2::connect(addr).await;
    let mut h1 = Http::connect(addr).await;
    let mut ws = ws_connect(addr, "/ws", Some("pushpoll.v1")).await;
    assert_eq!(ws_next(&mut ws, true).await, Got::Hello(0));

    let (status, body) = h2.get("/healthz").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
    assert_eq!(h1.get("/healthz").await.status, StatusCode::OK);

    // An SSE stream and long polls, all on the one HTTP/2 socket.
    let mut sse = h2.send("/events?since=0").await;
    assert_eq!(sse.status(), StatusCode::OK);
    let polls: Vec<_> = (0..5)
        .map(|_| {
            let tx = h2.tx.clone();
            let req = h2.request("/messages?since=0&wait=30");
            tokio::spawn(async move {
                let mut tx = tx;
                tx.ready().await.unwrap();
                let resp = tx.send_request(req).await.unwrap();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                serde_json::from_slice::<PollResponse>(&body).unwrap()
            })
        })
        .collect();
    metrics_until(addr, "five held long polls", |m| {
        metric(m, "pushpoll_connections", Some("long_poll")) == 5.0
    })
    .await;

    let sent = samples();
    publish_all(addr, &sent).await;
    for p in polls {
        let answer = within("a long poll", p).await.unwrap();
        assert!(!answer.messages.is_empty());
        assert_eq!(answer.messages[0].payload().unwrap(), sent[0]);
    }
    let got = sse_messages(sse.body_mut(), sent.len()).await;
    assert_eq!(got, sent);
    for (i, (kind, payload)) in sent.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(
            ws_next(&mut ws, true).await,
            Got::Msg(seq, *kind, payload.clone())
        );
    }
    // HTTP/1.1 polls on its own socket as before.
    let answer = h1.get("/messages?since=0").await.poll();
    assert_eq!(answer.messages.len(), sent.len());
    // And short polls over HTTP/2 see the same history.
    let answer = h2.poll("/messages?since=0").await;
    assert_eq!(answer.messages.len(), sent.len());

    let m = metrics(addr).await;
    // Requests are counted per stream: the five long polls, one short poll
    // on each protocol, the SSE stream.
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("long_poll")),
        5.0
    );
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("short_poll")),
        2.0
    );
    assert_eq!(metric(&m, "pushpoll_requests_total", Some("sse")), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_http2_is_refused_with_505() {
    let server = TestServer::start_default().await;
    let h2 = H2::connect(server.addr).await;
    let (status, body) = h2.get("/ws").await;
    assert_eq!(status, StatusCode::HTTP_VERSION_NOT_SUPPORTED);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("RFC 8441") && text.contains("HTTP/1.1"),
        "{text}"
    );
    // The connection serves on.
    assert_eq!(h2.get("/healthz").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_byte_of_the_socket_is_counted() {
    let server = TestServer::start_default().await;
    let addr = server.addr;
    let h2 = H2::connect(addr).await;
    for _ in 0..3 {
        h2.poll("/messages?since=0&wait=0.01").await;
    }
    // Preface, SETTINGS and their acks, HPACK-compressed heads, DATA: all
    // of it, on the open socket (at close, each side may send a GOAWAY the
    // other never reads).
    let client = || (h2.counts.written(), h2.counts.read());
    let mut last = (0, 0);
    for _ in 0..500 {
        let m = metrics(addr).await;
        last = (
            metric(&m, "pushpoll_bytes_received_total", Some("long_poll")) as u64,
            metric(&m, "pushpoll_bytes_sent_total", Some("long_poll")) as u64,
        );
        if last == client() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last, client(), "server (received, sent) vs client");
    let m = metrics(addr).await;
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("long_poll")),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_limit_wait_their_turn() {
    let server = TestServer::start(Config {
        limits: Limits {
            h2_max_concurrent_streams: 2,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let addr = server.addr;
    let h2 = H2::connect(addr).await;
    // Let the server's SETTINGS arrive before streams are opened.
    h2.get("/healthz").await;
    let polls: Vec<_> = (0..3)
        .map(|_| {
            let tx = h2.tx.clone();
            let req = h2.request("/messages?since=0&wait=30");
            tokio::spawn(async move {
                let mut tx = tx;
                tx.ready().await.unwrap();
                let resp = tx.send_request(req).await.unwrap();
                resp.into_body().collect().await.unwrap().to_bytes()
            })
        })
        .collect();
    metrics_until(addr, "two held long polls", |m| {
        metric(m, "pushpoll_connections", Some("long_poll")) == 2.0
    })
    .await;
    let m = metrics(addr).await;
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("long_poll")),
        2.0,
        "the third stream waits for a free slot"
    );
    publish_all(addr, &[(Kind::Text, b"go".to_vec())]).await;
    for p in polls {
        let body = within("a long poll", p).await.unwrap();
        let answer: PollResponse = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer.messages.len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_held_polls_and_ends_sse_streams() {
    let server = TestServer::start(Config {
        limits: Limits {
            shutdown_grace: Duration::from_secs(60),
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let addr = server.addr;
    let h2 = H2::connect(addr).await;
    let mut sse = h2.send("/events").await;
    let polls: Vec<_> = (0..3)
        .map(|_| {
            let tx = h2.tx.clone();
            let req = h2.request("/messages?since=0&wait=30");
            tokio::spawn(async move {
                let mut tx = tx;
                tx.ready().await.unwrap();
                let resp = tx.send_request(req).await.unwrap();
                resp.into_body().collect().await.unwrap().to_bytes()
            })
        })
        .collect();
    metrics_until(addr, "three held long polls", |m| {
        metric(m, "pushpoll_connections", Some("long_poll")) == 3.0
    })
    .await;
    let started = tokio::time::Instant::now();
    let stopped = tokio::spawn(server.stop());
    for p in polls {
        let body = within_for(PAUSED_PATIENCE, "a held poll", p).await.unwrap();
        let answer: PollResponse = serde_json::from_slice(&body).unwrap();
        assert!(answer.messages.is_empty());
    }
    // The SSE stream ends cleanly (its opening comment, then the end).
    loop {
        match within("the SSE stream to end", sse.body_mut().frame()).await {
            None => break,
            Some(frame) => {
                frame.unwrap();
            }
        }
    }
    within("run to return", stopped).await.unwrap().unwrap();
    // GOAWAY, then the socket closed: the client connection ends cleanly.
    within("the client connection to end", h2.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "answered on shutdown, not when `wait` ran out"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_sent_goaway() {
    let server = TestServer::start(Config {
        limits: Limits {
            header_read_timeout: Duration::from_secs(10),
            long_poll_max: Duration::from_secs(30),
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let h2 = H2::connect(server.addr).await;
    // A held long poll is not idleness, however long it is held.
    let started = tokio::time::Instant::now();
    let answer = h2.poll("/messages?since=0&wait=25").await;
    assert!(answer.messages.is_empty());
    assert!(started.elapsed() >= Duration::from_secs(25));
    assert!(!h2.conn.is_finished());
    // Then nothing: GOAWAY within two periods, and the connection ends.
    let idle_from = tokio::time::Instant::now();
    within_for(PAUSED_PATIENCE, "GOAWAY on the idle connection", h2.conn)
        .await
        .unwrap()
        .unwrap();
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_secs(10) && idle <= Duration::from_secs(21),
        "{idle:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_socket_is_closed_after_header_read_timeout() {
    let server = TestServer::start(Config {
        limits: Limits {
            header_read_timeout: Duration::from_secs(10),
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // Half a preface, then nothing.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = within_for(
        PAUSED_PATIENCE,
        "the server to close",
        stream.read(&mut buf),
    )
    .await
    .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_preface_alone_is_answered_then_dropped() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(Config {
        limits: Limits {
            header_read_timeout: Duration::from_secs(2),
            close_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // The preface, then silence: no SETTINGS, no PING ack.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let got = within_for(
        PAUSED_PATIENCE,
        "the server to drop the socket",
        read_until_closed(&mut stream),
    )
    .await;
    // Frames: SETTINGS (type 4) first, and a GOAWAY (type 7) before the end.
    assert!(got.len() >= 9 && got[3] == 4, "{got:?}");
    let mut types = Vec::new();
    let mut at = 0;
    while at + 9 <= got.len() {
        let len =
            usize::from(got[at]) << 16 | usize::from(got[at + 1]) << 8 | usize::from(got[at + 2]);
        types.push(got[at + 3]);
        at += 9 + len;
    }
    assert!(types.contains(&7), "frame types {types:?}");
}
