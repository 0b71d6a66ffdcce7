//! The server over TLS (`Config::tls`): every transport and the chat page
//! on `https://` / `wss://`, failed handshakes counted and bounded, the
//! connection limit's `503` readable by a TLS client, and unusable
//! certificate files refused with a message naming the file. Certificates
//! are made at test time (`pushpoll_testkit::make_pki`): a private CA and a
//! leaf for `localhost` / `127.0.0.1` that it signs.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use pushpoll_server::tls::DEFAULT_ALPN;
use pushpoll_server::{Config, Limits, TlsConfig};
use pushpoll_testkit::{make_pki, parse_metrics, read_to_close, within, Pki, TempFile, TestServer};
use pushpoll_wire::frame::{self, V1Frame};
use pushpoll_wire::poll::PollResponse;
use pushpoll_wire::sse::{Event, Parser};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn connector(pki: &Pki) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

async fn tls_connect(addr: SocketAddr, c: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    within("a TLS handshake", c.connect(name, tcp))
        .await
        .unwrap()
}

/// One keep-alive HTTP/1.1 connection over TLS.
struct Https {
    sender: SendRequest<Full<Bytes>>,
}

impl Https {
    async fn connect(addr: SocketAddr, c: &TlsConnector) -> Https {
        let tls = tls_connect(addr, c).await;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Https { sender }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &'static [u8],
    ) -> hyper::Response<hyper::body::Incoming> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from_static(body))).unwrap();
        self.sender.ready().await.unwrap();
        within("an answer", self.sender.send_request(req))
            .await
            .unwrap()
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: &'static [u8],
    ) -> (StatusCode, Bytes) {
        let resp = self.send(method, path, &[], body).await;
        let status = resp.status();
        let body = within("a body", resp.into_body().collect())
            .await
            .unwrap()
            .to_bytes();
        (status, body)
    }
}

#[tokio::test]
async fn every_transport_and_the_page_are_served_over_tls() {
    let pki = make_pki("server");
    let server = TestServer::start(pki.server_config()).await;
    let c = connector(&pki);

    // The chat page; its script picks wss:// when the page came over https.
    let mut http = Https::connect(server.addr, &c).await;
    let (status, page) = http.request(Method::GET, "/", b"").await;
    assert_eq!(status, StatusCode::OK);
    assert!(std::str::from_utf8(&page).unwrap().contains("<html"));
    let (_, js) = http.request(Method::GET, "/chat.js", b"").await;
    assert!(std::str::from_utf8(&js)
        .unwrap()
        .contains("location.protocol === 'https:' ? 'wss:' : 'ws:'"));

    // ALPN: the server chose HTTP/1.1.
    let tls = tls_connect(server.addr, &c).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    // A wss:// subscriber (pushpoll.v1) and an SSE stream, before publishing.
    let mut req = format!("wss://localhost:{}/ws", server.addr.port())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "pushpoll.v1".parse().unwrap());
    let (mut ws, _) = within("a wss handshake", tokio_tungstenite::client_async(req, tls))
        .await
        .unwrap();
    let mut sse = Https::connect(server.addr, &c).await;
    let events = sse
        .send(
            Method::GET,
            "/events",
            &[("accept", "text/event-stream")],
            b"",
        )
        .await;
    assert_eq!(events.status(), StatusCode::OK);
    let mut events = events.into_body();
    assert_eq!(next_ws(&mut ws).await, Owned::Hello(0));

    // A long poll held from 0, answered by the first publish.
    let mut long = Https::connect(server.addr, &c).await;
    let held = tokio::spawn(async move {
        long.request(Method::GET, "/messages?since=0&wait=10", b"")
            .await
    });
    let (status, _) = http.request(Method::POST, "/messages", b"one").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = http.request(Method::POST, "/messages", b"two").await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = within("the long poll", held).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let first: PollResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(first.messages[0].seq, 1);

    let (status, body) = http.request(Method::GET, "/messages?since=0", b"").await;
    assert_eq!(status, StatusCode::OK);
    let short: PollResponse = serde_json::from_slice(&body).unwrap();
    let seqs: Vec<u64> = short.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2]);

    assert_eq!(next_ws(&mut ws).await, Owned::Msg(1, b"one".to_vec()));
    assert_eq!(next_ws(&mut ws).await, Owned::Msg(2, b"two".to_vec()));

    let mut parser = Parser::new(1 << 20);
    let mut got: Vec<Event> = Vec::new();
    while got
        .iter()
        .filter(|e| e.event.is_empty() || e.event == "message")
        .count()
        < 2
    {
        let frame = within("an SSE chunk", events.frame())
            .await
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            parser.feed(&data, &mut got).unwrap();
        }
    }
    let data: Vec<&str> = got
        .iter()
        .filter(|e| e.event.is_empty() || e.event == "message")
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(data, ["one", "two"]);

    // The bytes counted per transport are TLS records: more than the
    // plain-text frames they carry.
    let (_, text) = http.request(Method::GET, "/metrics", b"").await;
    let m = parse_metrics(std::str::from_utf8(&text).unwrap());
    assert_eq!(m["pushpoll_tls_handshake_failures_total"], 0.0);
    assert!(m["pushpoll_bytes_sent_total{transport=\"ws\"}"] > 0.0);
    assert!(m["pushpoll_deliveries_total{transport=\"sse\"}"] >= 2.0);
    server.stop().await.unwrap();
}

type Wss = tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>;

async fn next_ws(ws: &mut Wss) -> Owned {
    match within("a wss frame", ws.next()).await.unwrap().unwrap() {
        Message::Binary(b) => frame::decode(&b).unwrap().to_owned_frame(),
        m => panic!("unexpected {m:?}"),
    }
}

/// A decoded `pushpoll.v1` frame that owns its payload.
#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Hello(u64),
    Msg(u64, Vec<u8>),
    Other,
}

trait ToOwnedFrame {
    fn to_owned_frame(&self) -> Owned;
}

impl ToOwnedFrame for V1Frame<'_> {
    fn to_owned_frame(&self) -> Owned {
        match self {
            V1Frame::Hello { last_seq } => Owned::Hello(*last_seq),
            V1Frame::Message { seq, payload, .. } => Owned::Msg(*seq, payload.to_vec()),
            V1Frame::Gap { .. } => Owned::Other,
        }
    }
}

#[tokio::test]
async fn failed_and_silent_handshakes_are_dropped_and_counted() {
    let pki = make_pki("server");
    let server = TestServer::start(Config {
        limits: Limits {
            header_read_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
        ..pki.server_config()
    })
    .await;
    let c = connector(&pki);

    // Plain HTTP to a TLS port: no HTTP answer, the socket is closed.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut plain).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");

    // A client that never says hello is dropped after header_read_timeout.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(read_to_close(&mut silent).await.is_empty());

    let mut http = Https::connect(server.addr, &c).await;
    let (_, text) = http.request(Method::GET, "/metrics", b"").await;
    let m = parse_metrics(std::str::from_utf8(&text).unwrap());
    assert_eq!(m["pushpoll_tls_handshake_failures_total"], 2.0);
}

#[tokio::test]
async fn a_tls_client_over_the_connection_limit_reads_the_503() {
    let pki = make_pki("server");
    let server = TestServer::start(Config {
        limits: Limits {
            max_connections: 1,
            ..Limits::default()
        },
        ..pki.server_config()
    })
    .await;
    let c = connector(&pki);
    let mut held = Https::connect(server.addr, &c).await;
    let (status, _) = held.request(Method::GET, "/healthz", b"").await;
    assert_eq!(status, StatusCode::OK);

    let mut over = Https::connect(server.addr, &c).await;
    let resp = over.send(Method::GET, "/healthz", &[], b"").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
}

/// A TLS client offering `h2`, then `http/1.1`, as browsers do.
fn h2_connector(pki: &Pki) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// An HTTP/2 client over the limit reads frames, not an HTTP/1.1 answer:
/// SETTINGS, then GOAWAY refusing every stream with the reason.
#[tokio::test]
async fn an_h2_client_over_the_connection_limit_reads_goaway() {
    let pki = make_pki("server");
    let server = TestServer::start(Config {
        limits: Limits {
            max_connections: 1,
            ..Limits::default()
        },
        ..pki.server_config()
    })
    .await;
    let mut held = Https::connect(server.addr, &connector(&pki)).await;
    let (status, _) = held.request(Method::GET, "/healthz", b"").await;
    assert_eq!(status, StatusCode::OK);

    let mut over = tls_connect(server.addr, &h2_connector(&pki)).await;
    assert_eq!(over.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    over.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = within("the refusal", over.read_to_end(&mut got)).await;
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 9 <= got.len() {
        let len = (usize::from(got[at]) << 16)
            | (usize::from(got[at + 1]) << 8)
            | usize::from(got[at + 2]);
        frames.push((
            got[at + 3],
            got[at + 9..(at + 9 + len).min(got.len())].to_vec(),
        ));
        at += 9 + len;
    }
    assert_eq!(frames.len(), 2, "{got:?}");
    assert_eq!(frames[0].0, 4, "SETTINGS first");
    let (kind, goaway) = &frames[1];
    assert_eq!(*kind, 7, "then GOAWAY");
    assert_eq!(
        &goaway[..8],
        &[0, 0, 0, 0, 0, 0, 0, 7],
        "last stream 0, REFUSED_STREAM"
    );
    let reason = String::from_utf8_lossy(&goaway[8..]);
    assert!(reason.contains("limit of 1 connections"), "{reason}");
}

#[test]
fn unusable_certificate_files_are_named() {
    let pki = make_pki("server");
    let other = make_pki("other");
    let cert = TempFile::new("cert.pem", &pki.cert_pem);
    let key = TempFile::new("key.pem", &pki.key_pem);
    let other_key = TempFile::new("other-key.pem", &other.key_pem);
    let empty = TempFile::new("empty.pem", "nothing here\n");
    let err = |c: &TempFile, k: &TempFile| {
        TlsConfig::from_pem_files(Path::new(c.path()), Path::new(k.path()), DEFAULT_ALPN)
            .unwrap_err()
            .to_string()
    };

    assert!(
        TlsConfig::from_pem_files(Path::new(cert.path()), Path::new(key.path()), DEFAULT_ALPN)
            .is_ok()
    );

    let missing = std::env::temp_dir().join("pushpoll-tls-test-no-such-file.pem");
    let e = TlsConfig::from_pem_files(&missing, Path::new(key.path()), DEFAULT_ALPN)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("TLS certificate") && e.contains("cannot read"),
        "{e}"
    );
    assert!(e.contains("no-such-file.pem"), "{e}");

    let e = err(&empty, &key);
    assert!(
        e.contains("TLS certificate") && e.contains("no certificate found"),
        "{e}"
    );
    assert!(e.contains("empty.pem"), "{e}");

    let e = err(&cert, &empty);
    assert!(
        e.contains("TLS private key") && e.contains("no private key found"),
        "{e}"
    );

    // A key is not a certificate, and the wrong key is refused.
    let e = err(&key, &key);
    assert!(e.contains("no certificate found"), "{e}");
    let e = err(&cert, &other_key);
    assert!(e.contains("does not belong to the certificate"), "{e}");
    assert!(e.contains("other-key.pem"), "{e}");
}

/// A client offering `h2` first (as browsers do) gets HTTP/2: polls and an
/// SSE stream multiplexed on one TLS connection; one offering only
/// `http/1.1` (a WebSocket's, above) still gets HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_h2_serves_polls_and_sse_over_http2() {
    let pki = make_pki("server");
    let server = TestServer::start(pki.server_config()).await;
    let tls = tls_connect(server.addr, &h2_connector(&pki)).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (tx, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let get = |path: &str| {
        let mut tx = tx.clone();
        let req = Request::get(format!("https://localhost{path}"))
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        async move {
            tx.ready().await.unwrap();
            within("an HTTP/2 answer", tx.send_request(req))
                .await
                .unwrap()
        }
    };
    let events = get("/events").await;
    assert_eq!(events.version(), http::Version::HTTP_2);
    let held = tokio::spawn(get("/messages?since=0&wait=10"));
    let mut http = Https::connect(server.addr, &connector(&pki)).await;
    let (status, _) = http.request(Method::POST, "/messages", b"one").await;
    assert_eq!(status, StatusCode::CREATED);
    let answer = within("the held poll", held).await.unwrap();
    assert_eq!(answer.version(), http::Version::HTTP_2);
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    let poll: PollResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(poll.messages.len(), 1);
    // The SSE stream got it too.
    let mut events = events.into_body();
    let mut parser = Parser::new(1 << 20);
    let mut got: Vec<Event> = Vec::new();
    while !got.iter().any(|e| e.id.is_some()) {
        let frame = within("an SSE chunk", events.frame())
            .await
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            parser.feed(&data, &mut got).unwrap();
        }
    }
    let msg = got.iter().find(|e| e.id.is_some()).unwrap();
    assert_eq!(msg.payload().unwrap().1, b"one".to_vec());
}
