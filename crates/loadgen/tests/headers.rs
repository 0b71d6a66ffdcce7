//! Header profiles (`--header-profile`): every request head that reaches the
//! socket is the request line, `Host`, exactly the profile's declared
//! headers, and the blank line; the socket counts agree; compressed answers
//! are counted compressed and still delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushpoll_loadgen::headers::{HeaderProfile, Profile, RequestKind};
use pushpoll_loadgen::{run, Hooks, RunResult};
use pushpoll_testkit::{eventually, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{never, opts};

/// What one connection through the tap carried, each way.
#[derive(Default)]
struct Tapped {
    up: Vec<u8>,
    down: Vec<u8>,
}

/// A TCP relay in front of the server that keeps every byte it relays.
struct Tap {
    addr: std::net::SocketAddr,
    conns: Arc<Mutex<Vec<Arc<Mutex<Tapped>>>>>,
}

impl Tap {
    async fn start(upstream: std::net::SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<Arc<Mutex<Tapped>>>>> = Arc::default();
        let all = conns.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let t: Arc<Mutex<Tapped>> = Arc::default();
                all.lock().unwrap().push(t.clone());
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, t.clone(), true));
                tokio::spawn(pipe(sr, cw, t, false));
            }
        });
        Tap { addr, conns }
    }

    fn totals(&self) -> (u64, u64) {
        let conns = self.conns.lock().unwrap();
        conns.iter().fold((0, 0), |(u, d), c| {
            let c = c.lock().unwrap();
            (u + c.up.len() as u64, d + c.down.len() as u64)
        })
    }

    /// Every request head sent through the tap (bodiless requests only).
    fn heads(&self) -> Vec<String> {
        let conns = self.conns.lock().unwrap();
        let mut out = Vec::new();
        for c in conns.iter() {
            let c = c.lock().unwrap();
            let text = String::from_utf8_lossy(&c.up).into_owned();
            // WebSocket frames follow the handshake: keep the head only.
            let mut rest = text.as_str();
            while let Some(end) = rest.find("\r\n\r\n") {
                let head = &rest[..end + 4];
                if !head.starts_with("GET ") {
                    break;
                }
                out.push(head.to_string());
                rest = &rest[end + 4..];
            }
        }
        out
    }

    /// How many `POST` request lines went through the tap.
    fn heads_with_body(&self) -> usize {
        let conns = self.conns.lock().unwrap();
        conns
            .iter()
            .map(|c| {
                let c = c.lock().unwrap();
                String::from_utf8_lossy(&c.up)
                    .matches("POST /messages HTTP/1.1\r\n")
                    .count()
            })
            .sum()
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    tap: Arc<Mutex<Tapped>>,
    up: bool,
) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut t = tap.lock().unwrap();
            let v = if up { &mut t.up } else { &mut t.down };
            v.extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Two subscribers of `transport` through a tap, 10 messages.
async fn tapped_run(transport: &str, path: &str, profile: &str) -> (RunResult, Tap, Profile) {
    let server = TestServer::start_default().await;
    let tap = Tap::start(server.addr).await;
    let url = format!("http://{}{path}", tap.addr);
    let url = if transport == "ws" {
        url.replacen("http", "ws", 1)
    } else {
        url
    };
    let publish = format!("http://{}/messages", server.addr);
    let args = [
        "--url",
        &url,
        "--publish-url",
        &publish,
        "--transport",
        transport,
        "--subscribers",
        "2",
        "--rate",
        "20",
        "--duration",
        "0.5",
        "--poll-interval",
        "0.1",
        "--grace",
        "2",
        "--header-profile",
        profile,
    ];
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    assert_eq!((r.delivered, r.lost), (r.expected_deliveries, 0), "{r:?}");
    assert!(r.expected_deliveries >= 18, "{}", r.expected_deliveries);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // The generator's socket counts are what went through the tap.
    assert!(
        eventually(Duration::from_secs(5), || tap.totals()
            == (r.bytes_up, r.bytes_down))
        .await,
        "tap {:?} vs generator {:?}",
        tap.totals(),
        (r.bytes_up, r.bytes_down)
    );
    drop(server);
    let page = format!("http://{}", tap.addr);
    let p = Profile::new(&profile.parse::<HeaderProfile>().unwrap(), &page).unwrap();
    (r, tap, p)
}

/// `name: value\r\n` lines of a profile's headers for `kind`.
fn lines(p: &Profile, kind: RequestKind) -> String {
    p.headers(kind)
        .iter()
        .map(|(n, v)| format!("{n}: {}\r\n", v.to_str().unwrap()))
        .collect()
}

/// Every HTTP request head is exactly: request line, `Host`, the profile's
/// headers in order, blank line; so its size is the profile's declared
/// size plus the request line and `Host`.
fn assert_http_heads(tap: &Tap, p: &Profile, kind: RequestKind) -> usize {
    let heads = tap.heads();
    assert!(!heads.is_empty());
    let want = lines(p, kind);
    assert_eq!(want.len(), p.bytes(kind));
    for head in &heads {
        let line_end = head.find("\r\n").unwrap() + 2;
        let host = format!("host: {}\r\n", tap.addr);
        assert_eq!(&head[line_end..line_end + host.len()], host, "{head}");
        let rest = &head[line_end + host.len()..];
        assert_eq!(rest, format!("{want}\r\n"), "{head}");
        assert_eq!(head.len(), line_end + host.len() + p.bytes(kind) + 2);
    }
    heads.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_heads_carry_exactly_the_profile() {
    let (r, tap, p) = tapped_run("short-poll", "/messages", "minimal").await;
    assert_eq!(p.bytes(RequestKind::Poll), 56);
    let n = assert_http_heads(&tap, &p, RequestKind::Poll);
    assert_eq!(n as u64, r.requests);

    let (r, tap, p) = tapped_run("long-poll", "/messages", "browser").await;
    assert_eq!(
        p.bytes(RequestKind::Poll),
        731 + (tap.addr.to_string().len() - 14)
    );
    let n = assert_http_heads(&tap, &p, RequestKind::Poll);
    assert_eq!(n as u64, r.requests);
    // Every answer with a body came back compressed (the browser profile
    // accepts br; the server compresses from 20 bytes) and was decoded.
    let conns = tap.conns.lock().unwrap();
    let down: String = conns
        .iter()
        .map(|c| String::from_utf8_lossy(&c.lock().unwrap().down).into_owned())
        .collect();
    let answers = down.matches("HTTP/1.1 200 OK\r\n").count();
    assert!(answers as u64 + 2 >= r.requests, "{answers} answers");
    assert_eq!(
        down.matches("content-encoding: br\r\n").count(),
        answers,
        "every poll answer is br-encoded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_header_file_is_sent_as_captured() {
    let dir = std::env::temp_dir().join(format!("pushpoll-headers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("capture.txt");
    std::fs::write(
        &file,
        "GET /messages HTTP/1.1\r\nHost: example.org\r\nAccept: application/json\r\n\
         Accept-Encoding: gzip\r\nCookie: sid=0123456789abcdef\r\nX-Requested-With: XMLHttpRequest\r\n",
    )
    .unwrap();
    let path = file.to_str().unwrap().to_string();
    let (r, tap, p) = tapped_run("short-poll", "/messages", &path).await;
    assert_eq!(
        p.bytes(RequestKind::Poll),
        "accept: application/json\r\naccept-encoding: gzip\r\ncookie: sid=0123456789abcdef\r\nx-requested-with: XMLHttpRequest\r\n".len()
    );
    let n = assert_http_heads(&tap, &p, RequestKind::Poll);
    assert_eq!(n as u64, r.requests);
    let conns = tap.conns.lock().unwrap();
    assert!(conns
        .iter()
        .any(|c| String::from_utf8_lossy(&c.lock().unwrap().down)
            .contains("content-encoding: gzip\r\n")));
    drop(conns);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_and_handshake_heads_carry_exactly_the_profile() {
    let (_, tap, p) = tapped_run("sse", "/events", "browser").await;
    assert_eq!(assert_http_heads(&tap, &p, RequestKind::Stream), 2);

    let (_, tap, p) = tapped_run("ws", "/ws", "browser").await;
    let heads = tap.heads();
    assert_eq!(heads.len(), 2);
    let want = lines(&p, RequestKind::WebSocket);
    let sorted = |text: &str| {
        let mut v: Vec<String> = text
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| l.to_ascii_lowercase())
            .collect();
        v.sort();
        v
    };
    for head in &heads {
        // tungstenite writes its own lines (request line, Host, Connection,
        // Upgrade, Sec-WebSocket-Version and -Key), then the profile's, in
        // its own order and with `Origin` capitalised.
        let own: Vec<&str> = head.split("\r\n").take(6).collect();
        assert!(own[0].starts_with("GET /ws HTTP/1.1"), "{head}");
        let own_len: usize = own.iter().map(|l| l.len() + 2).sum();
        assert_eq!(sorted(&head[own_len..]), sorted(&want), "{head}");
        assert_eq!(head.len(), own_len + p.bytes(RequestKind::WebSocket) + 2);
    }
}

/// Two long-poll subscribers straight to the server, the publisher's
/// `POST`s through a tap.
async fn tapped_publisher(profile: &str) -> (RunResult, Tap) {
    let server = TestServer::start_default().await;
    let tap = Tap::start(server.addr).await;
    let url = format!("http://{}/messages", server.addr);
    let publish = format!("http://{}/messages", tap.addr);
    let args = [
        "--url",
        &url,
        "--publish-url",
        &publish,
        "--transport",
        "long-poll",
        "--subscribers",
        "2",
        "--rate",
        "20",
        "--duration",
        "0.5",
        "--grace",
        "2",
        "--header-profile",
        profile,
    ];
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    assert_eq!((r.delivered, r.lost), (r.expected_deliveries, 0), "{r:?}");
    assert!(r.published >= 9, "{}", r.published);
    (r, tap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_senders_posts_are_counted_at_their_sockets() {
    let mut per_sent = Vec::new();
    for profile in ["minimal", "browser"] {
        let (r, tap) = tapped_publisher(profile).await;
        let s = r.sender.expect("a run with publishers counts them");
        assert_eq!(s.requests, r.published, "one POST per sent message");
        assert_eq!(s.requests_per_sent, Some(1.0));
        // Every byte through the tap is the publisher's, all inside the
        // window (its keep-alive connection opens with the first POST).
        assert!(
            eventually(Duration::from_secs(5), || tap.totals()
                == (s.bytes_up, s.bytes_down))
            .await,
            "tap {:?} vs sender {:?}",
            tap.totals(),
            (s.bytes_up, s.bytes_down)
        );
        let heads = tap.heads_with_body();
        assert_eq!(heads as u64, r.published);
        per_sent.push(s.bytes_up_per_sent.unwrap());
    }
    // The browser's headers are most of what a browser's POST sends.
    assert!(
        per_sent[1] > per_sent[0] + 400.0,
        "minimal {} B vs browser {} B per sent message",
        per_sent[0],
        per_sent[1]
    );
}
