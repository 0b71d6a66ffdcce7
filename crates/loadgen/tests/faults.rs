//! Faults and resumption: pushpoll's own server behind the killing proxy
//! (every transport must lose nothing), a fake `pushpoll.v1` server that
//! forgets history on purpose (gaps are counted, never hidden), a plain
//! relay (the subprotocol is refused up front), and `Retry-After`.
//!
//! The end-to-end runs use real time: the server, the proxy and the load
//! generator share one runtime, and every assertion is about counts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pushpoll_loadgen::{run, Hooks, LoadError, RunResult};
use pushpoll_proxy::{Proxy, ProxyStats};
use pushpoll_testkit::{dead_addr, TestServer};
use pushpoll_wire::frame;
use pushpoll_wire::Kind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::support::ws_relay::{Relay, Rules};
use crate::support::{never, opts};

/// One transport, ten subscribers behind a proxy that cuts a connection
/// about every 100 ms (RST or close, at most 8, all within 1.2 s), 20 msg/s
/// for 2 s, published straight to the server.
async fn killed_run(transport: &str, url_path: &str, extra: &[&str]) -> (RunResult, ProxyStats) {
    let server = TestServer::start_default().await;
    let proxy = Proxy::start(&{
        let mut o = pushpoll_proxy::ProxyOpts::to(server.addr);
        o.kill_every = Some(0.1);
        o.kill_max = 8;
        o
    })
    .await
    .unwrap();
    let scheme = if transport == "ws" { "ws" } else { "http" };
    let url = format!("{scheme}://{}{url_path}", proxy.addr());
    let publish = format!("http://{}/messages", server.addr);
    let mut args = vec![
        "--url",
        &url,
        "--transport",
        transport,
        "--publish-url",
        &publish,
        "--subscribers",
        "10",
        "--rate",
        "20",
        "--duration",
        "2",
        "--grace",
        "5",
    ];
    args.extend_from_slice(extra);
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    let stats = proxy.stop().await;
    (r, stats)
}

/// What every killed run must show: cuts happened, subscribers noticed and
/// came back, and not one message was lost, repeated or reordered.
fn assert_lossless(transport: &str, r: &RunResult, stats: &ProxyStats) {
    let ctx = format!("{transport}: {:?} {stats:?}", r.errors);
    assert_eq!(r.subscribers_connected, 10, "{ctx}");
    assert_eq!(r.published, 40, "{ctx}");
    assert_eq!(r.publish_errors, 0, "{ctx}");
    assert_eq!(stats.killed(), 8, "{ctx}");
    // Only subscribers go through the proxy, and every cut ends before the
    // last message: each subscriber that was cut noticed and came back.
    let errors: u64 = r.errors.values().sum();
    assert_eq!(errors, stats.killed(), "{ctx}");
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.reordered, r.unexpected),
        (400, 0, 0, 0, 0),
        "{ctx}"
    );
    assert_eq!(r.errors.get("gap"), None, "history held everything: {ctx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_with_pushpoll_v1_resumes_every_cut_without_loss() {
    let (r, stats) = killed_run("ws", "/ws", &["--ws-subprotocol", "pushpoll.v1"]).await;
    assert_lossless("ws", &r, &stats);
    // Every cut cost its subscriber one more handshake.
    assert_eq!(r.requests, 10 + stats.killed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_every_cut_from_last_event_id_without_loss() {
    let (r, stats) = killed_run("sse", "/events", &[]).await;
    assert_lossless("sse", &r, &stats);
    assert_eq!(r.requests, 10 + stats.killed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_resume_every_cut_from_since_without_loss() {
    let (r, stats) = killed_run("long-poll", "/messages", &[]).await;
    assert_lossless("long-poll", &r, &stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_polls_resume_every_cut_from_since_without_loss() {
    let (r, stats) = killed_run("short-poll", "/messages", &["--poll-interval", "0.1"]).await;
    assert_lossless("short-poll", &r, &stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushpoll_v1_against_a_plain_relay_fails_before_the_run() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--ws-subprotocol",
        "pushpoll.v1",
        "--subscribers",
        "3",
    ]);
    match run(&o, Hooks::default(), never()).await {
        Err(e @ LoadError::SubprotocolRefused { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("pushpoll.v1") && msg.contains("--ws-subprotocol"));
        }
        other => panic!("expected a setup error, got {other:?}"),
    }
    // Only the probe connected: no subscriber was started.
    assert_eq!(relay.subscriber_conns().len(), 1);
    // Other transports cannot ask for a subprotocol.
    let o = opts(&[
        "--url",
        "http://127.0.0.1:9/messages",
        "--transport",
        "long-poll",
        "--ws-subprotocol",
        "pushpoll.v1",
    ]);
    assert!(matches!(
        run(&o, Hooks::default(), never()).await,
        Err(LoadError::InvalidOption {
            option: "ws-subprotocol",
            ..
        })
    ));
}

/// A `pushpoll.v1` server that forgets on purpose. Publishers' frames get
/// seqs 1, 2, ...; a subscriber connection (one that asks for the
/// subprotocol) gets the hello, then messages from where it asked. Every
/// resume (`?since=S`) is answered with a gap notice saying history now
/// starts at `S + 2`, so message `S + 1` is lost to that subscriber. A
/// connection is closed (1001) after 3 messages, unless it resumed from 7
/// or later.
struct Forgetful {
    addr: SocketAddr,
    /// Request targets of subscriber handshakes, in order.
    targets: Arc<Mutex<Vec<String>>>,
}

impl Forgetful {
    async fn start() -> Forgetful {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let targets: Arc<Mutex<Vec<String>>> = Arc::default();
        let history: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let (last_tx, last_rx) = watch::channel(0u64);
        let last_tx = Arc::new(last_tx);
        let t = targets.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (t, history, last_tx, mut last_rx) =
                    (t.clone(), history.clone(), last_tx.clone(), last_rx.clone());
                tokio::spawn(async move {
                    let seen: Arc<Mutex<Option<(String, bool)>>> = Arc::default();
                    let s = seen.clone();
                    // The error type is tungstenite's, not ours to shrink.
                    #[allow(clippy::result_large_err)]
                    let cb = move |req: &Request, mut resp: Response| {
                        let v1 = req
                            .headers()
                            .get("sec-websocket-protocol")
                            .is_some_and(|v| v.as_bytes() == frame::SUBPROTOCOL.as_bytes());
                        if v1 {
                            resp.headers_mut().insert(
                                "sec-websocket-protocol",
                                HeaderValue::from_static(frame::SUBPROTOCOL),
                            );
                        }
                        *s.lock().unwrap() = Some((req.uri().to_string(), v1));
                        Ok(resp)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, cb).await else {
                        return;
                    };
                    let (target, v1) = seen.lock().unwrap().clone().unwrap();
                    if !v1 {
                        // A publisher: store and announce every frame.
                        while let Some(Ok(m)) = ws.next().await {
                            if let Message::Text(text) = m {
                                let mut h = history.lock().unwrap();
                                h.push(text.as_bytes().to_vec());
                                last_tx.send_replace(h.len() as u64);
                            }
                        }
                        return;
                    }
                    t.lock().unwrap().push(target.clone());
                    let since: Option<u64> =
                        target.split_once("since=").map(|(_, s)| s.parse().unwrap());
                    let last = *last_rx.borrow_and_update();
                    ws.send(Message::Binary(frame::encode_hello(last)))
                        .await
                        .unwrap();
                    let mut next = match since {
                        None => last + 1,
                        Some(s) => {
                            ws.send(Message::Binary(frame::encode_gap(s, s + 2)))
                                .await
                                .unwrap();
                            s + 2
                        }
                    };
                    let closes = since.is_none_or(|s| s < 7);
                    let mut sent = 0;
                    loop {
                        let available = *last_rx.borrow_and_update();
                        while next <= available {
                            let payload = history.lock().unwrap()[next as usize - 1].clone();
                            let f = frame::encode_message(next, Kind::Text, &payload);
                            if ws.send(Message::Binary(f)).await.is_err() {
                                return;
                            }
                            next += 1;
                            sent += 1;
                            if closes && sent == 3 {
                                let _ = ws
                                    .close(Some(CloseFrame {
                                        code: CloseCode::Away,
                                        reason: "going away".into(),
                                    }))
                                    .await;
                                return;
                            }
                        }
                        tokio::select! {
                            r = last_rx.changed() => if r.is_err() { return },
                            m = ws.next() => if !matches!(m, Some(Ok(_))) { return },
                        }
                    }
                });
            }
        });
        Forgetful { addr, targets }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushpoll_v1_resumes_from_the_last_seq_and_counts_gaps() {
    let fake = Forgetful::start().await;
    let url = format!("ws://{}/ws", fake.addr);
    let o = opts(&[
        "--url",
        &url,
        "--ws-subprotocol",
        "pushpoll.v1",
        "--subscribers",
        "2",
        "--rate",
        "50",
        "--duration",
        "0.2",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    // Each subscriber: 1 2 3 | close | gap(3, 5) 5 6 7 | close | gap(7, 9) 9 10.
    assert_eq!(r.published, 10);
    assert_eq!(r.subscribers_connected, 2);
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.reordered),
        (16, 4, 0, 0),
        "{:?}",
        r.errors
    );
    let want: BTreeMap<String, u64> = [("closed_1001".to_string(), 4), ("gap".to_string(), 4)]
        .into_iter()
        .collect();
    assert_eq!(r.errors, want);
    let mut targets = fake.targets.lock().unwrap().clone();
    targets.sort();
    // The probe before the run, then each subscriber's three connections.
    assert_eq!(
        targets,
        [
            "/ws",
            "/ws",
            "/ws",
            "/ws?since=3",
            "/ws?since=3",
            "/ws?since=7",
            "/ws?since=7"
        ]
    );
    assert_eq!(r.requests, 6, "the probe is not a subscriber request");
}

/// An HTTP server whose first answer is `503` with `Retry-After: 3` and
/// `Connection: close`; later ones are `ok`, after `hold` (a long poll's
/// wait). Records when each request arrived.
async fn busy_once(ok: &'static str, hold: Duration) -> (SocketAddr, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let a = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let a = a.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some(end) = read_head(&mut tcp, &mut buf).await else {
                        return;
                    };
                    buf.drain(..end);
                    let first = {
                        let mut v = a.lock().unwrap();
                        v.push(Instant::now());
                        v.len() == 1
                    };
                    if first {
                        let body = r#"{"error":"busy"}"#;
                        let resp = format!(
                            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 3\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = tcp.write_all(resp.as_bytes()).await;
                        return;
                    }
                    tokio::time::sleep(hold).await;
                    if tcp.write_all(ok.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, arrivals)
}

/// Reads one request head into `buf`; returns its length.
async fn read_head(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        let mut chunk = [0u8; 4096];
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

const EMPTY_POLL: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 43\r\n\r\n{\"messages\":[],\"last_seq\":0,\"oldest_seq\":1}";
/// A stream that stays open (no length: the body lasts until the close).
const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n: hello\n\n";

/// An HTTP server that answers one request a connection with `answer`,
/// then closes it; records each connection's request line.
async fn one_answer_per_connection(answer: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = lines.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let l = l.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if let Some(end) = read_head(&mut tcp, &mut buf).await {
                    let head = String::from_utf8_lossy(&buf[..end]);
                    l.lock()
                        .unwrap()
                        .push(head.lines().next().unwrap_or_default().to_string());
                    let _ = tcp.write_all(answer.as_bytes()).await;
                }
            });
        }
    });
    (addr, lines)
}

#[tokio::test(start_paused = true)]
async fn a_poll_answer_that_ends_the_connection_is_not_an_error() {
    let dead = dead_addr();
    let publish = format!("ws://{dead}/ws");
    for answer in [
        // `Connection: close`, and a body that lasts until the close.
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 43\r\n\r\n{\"messages\":[],\"last_seq\":0,\"oldest_seq\":1}",
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"messages\":[],\"last_seq\":0,\"oldest_seq\":1}",
    ] {
        let (addr, lines) = one_answer_per_connection(answer).await;
        let url = format!("http://{addr}/messages");
        let o = opts(&[
            "--url",
            &url,
            "--transport",
            "short-poll",
            "--publish-url",
            &publish,
            "--subscribers",
            "1",
            "--poll-interval",
            "1",
            "--rate",
            "1",
            "--duration",
            "3",
        ]);
        let r = run(&o, Hooks::default(), never()).await.unwrap();
        assert_eq!(r.subscribers_connected, 1, "{:?}", r.errors);
        let subscriber_errors: Vec<_> = r
            .errors
            .keys()
            .filter(|k| !k.starts_with("publish"))
            .collect();
        assert!(subscriber_errors.is_empty(), "{answer}: {:?}", r.errors);
        // Every poll had a connection of its own, and was answered.
        let lines = lines.lock().unwrap().clone();
        let polls = lines.iter().filter(|l| l.starts_with("GET /messages")).count();
        assert!(r.requests >= 3, "{answer}: {} requests", r.requests);
        assert_eq!(polls, r.requests as usize, "{answer}: {lines:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_503_retry_after_is_obeyed_by_polls_and_sse() {
    // Publishers aim at a port nobody listens on: only subscribers matter here.
    let dead = dead_addr();
    let publish = format!("ws://{dead}/ws");
    let hold = Duration::from_secs(1);
    for (transport, path, ok, hold) in [
        ("short-poll", "/messages", EMPTY_POLL, Duration::ZERO),
        ("long-poll", "/messages", EMPTY_POLL, hold),
        ("sse", "/events", SSE_HEAD, Duration::ZERO),
    ] {
        let (addr, arrivals) = busy_once(ok, hold).await;
        let url = format!("http://{addr}{path}");
        let o = opts(&[
            "--url",
            &url,
            "--transport",
            transport,
            "--publish-url",
            &publish,
            "--subscribers",
            "1",
            "--rate",
            "1",
            "--duration",
            "1",
        ]);
        let r = run(&o, Hooks::default(), never()).await.unwrap();
        assert_eq!(r.subscribers_connected, 1, "{transport}: {:?}", r.errors);
        assert_eq!(r.errors.get("bad_status_503"), Some(&1), "{transport}");
        let a = arrivals.lock().unwrap().clone();
        assert!(a.len() >= 2, "{transport}: {a:?}");
        let waited = a[1] - a[0];
        // Retry-After: 3, plus at most one step of jittered backoff (100 ms).
        assert!(
            waited >= Duration::from_secs(3) && waited <= Duration::from_millis(3_150),
            "{transport}: retried after {waited:?}"
        );
    }
}
