//! Test clients of the server (which `pushpoll_testkit::TestServer` starts):
//! HTTP over hyper's client connection, SSE via `pushpoll_wire::sse::Parser`,
//! WebSocket via tokio-tungstenite, each over a socket that counts the
//! client's own bytes (`pushpoll_testkit::Counted`).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use pushpoll_testkit::{read_to_close, within, Counted, Counts};
use pushpoll_wire::frame::{self, V1Frame};
use pushpoll_wire::poll::PollResponse;
use pushpoll_wire::sse::{Event, Parser};
use pushpoll_wire::Kind;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A plain TCP connection whose bytes are counted, Nagle off.
pub async fn counted_tcp(addr: SocketAddr) -> Counted<TcpStream> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    Counted::new(stream, Arc::default())
}

/// A TCP connection with a tiny receive buffer, to make a client that does
/// not read fill up fast.
pub async fn small_window_tcp(addr: SocketAddr) -> Counted<TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    Counted::new(stream, Arc::default())
}

/// An answer, read to its end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn poll(&self) -> PollResponse {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.body);
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The `error` of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .expect("an `error` string")
            .to_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// One keep-alive HTTP/1.1 connection (hyper's client).
pub struct Http {
    sender: SendRequest<Full<Bytes>>,
    pub counts: Arc<Counts>,
    addr: SocketAddr,
}

impl Http {
    pub async fn connect(addr: SocketAddr) -> Http {
        Http::over(counted_tcp(addr).await, addr).await
    }

    pub async fn over(stream: Counted<TcpStream>, addr: SocketAddr) -> Http {
        let counts = Arc::clone(stream.counter());
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Http {
            sender,
            counts,
            addr,
        }
    }

    /// Sends a request and returns the response with its body unread.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> hyper::Response<Incoming> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        self.sender.ready().await.unwrap();
        self.sender.send_request(req).await.unwrap()
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let resp = self.send(method, path, headers, body).await;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn publish(&mut self, kind: Kind, payload: &[u8]) -> u64 {
        let ct = match kind {
            Kind::Text => "text/plain; charset=utf-8",
            Kind::Binary => "application/octet-stream",
        };
        let reply = self
            .request(
                Method::POST,
                "/messages",
                &[("content-type", ct)],
                Bytes::copy_from_slice(payload),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.json()["seq"].as_u64().unwrap()
    }
}

/// One request on a fresh connection.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    Http::connect(addr).await.get(path).await
}

/// The samples every delivery test publishes: both kinds, empty payloads,
/// multi-line text, carriage returns, non-ASCII text, every byte value.
pub fn samples() -> Vec<(Kind, Vec<u8>)> {
    let mut v = vec![
        (Kind::Text, b"hello".to_vec()),
        (Kind::Binary, (0..=255u8).collect()),
        (Kind::Text, b"two\nlines".to_vec()),
        (Kind::Text, b"carriage\r\nreturn".to_vec()),
        (
            Kind::Text,
            "d\u{e9}j\u{e0} vu \u{1f600}".as_bytes().to_vec(),
        ),
        (Kind::Text, Vec::new()),
        (Kind::Binary, Vec::new()),
        (Kind::Binary, b"not marked as text".to_vec()),
    ];
    for i in 0..32 {
        let kind = if i % 3 == 0 { Kind::Binary } else { Kind::Text };
        v.push((
            kind,
            format!("message {i} {}", "x".repeat(i * 7)).into_bytes(),
        ));
    }
    v
}

/// Publishes each sample in order on one connection; returns their seqs.
pub async fn publish_all(addr: SocketAddr, samples: &[(Kind, Vec<u8>)]) -> Vec<u64> {
    let mut http = Http::connect(addr).await;
    let mut seqs = Vec::new();
    for (kind, payload) in samples {
        seqs.push(http.publish(*kind, payload).await);
    }
    seqs
}

// ---- SSE ----

/// An open `GET /events` stream.
pub struct Sse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
    parser: Parser,
    events: VecDeque<Event>,
    /// Every byte of the body so far, for checks on the raw format.
    pub raw: Vec<u8>,
    _http: Http,
}

impl Sse {
    pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Sse {
        Sse::open_over(Http::connect(addr).await, path, headers).await
    }

    pub async fn open_over(mut http: Http, path: &str, headers: &[(&str, &str)]) -> Sse {
        let resp = http.send(Method::GET, path, headers, Bytes::new()).await;
        let (parts, body) = resp.into_parts();
        Sse {
            status: parts.status,
            headers: parts.headers,
            body,
            parser: Parser::new(1 << 20),
            events: VecDeque::new(),
            raw: Vec::new(),
            _http: http,
        }
    }

    /// Reads one more chunk of the body into `raw` (and the parser);
    /// false when the stream has ended.
    pub async fn read_chunk(&mut self) -> bool {
        let Some(Ok(frame)) = self.body.frame().await else {
            return false;
        };
        if let Ok(data) = frame.into_data() {
            self.raw.extend_from_slice(&data);
            let mut out = Vec::new();
            self.parser.feed(&data, &mut out).unwrap();
            self.events.extend(out);
        }
        true
    }

    /// What `EventSource` would send as `Last-Event-ID` if cut now.
    pub fn last_event_id(&self) -> Option<&str> {
        self.parser.last_event_id()
    }

    /// The next event, or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            let frame = within("an SSE chunk", self.body.frame()).await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.raw.extend_from_slice(&data);
                let mut out = Vec::new();
                self.parser.feed(&data, &mut out).unwrap();
                self.events.extend(out);
            }
        }
    }

    /// The next `n` message events as (seq, kind, payload).
    pub async fn messages(&mut self, n: usize) -> Vec<(u64, Kind, Vec<u8>)> {
        let mut v = Vec::new();
        while v.len() < n {
            let e = self.next().await.expect("stream ended early");
            assert_ne!(e.event, "gap", "unexpected gap {e:?}");
            let (kind, payload) = e.payload().unwrap();
            v.push((e.seq().unwrap(), kind, payload));
        }
        v
    }
}

// ---- WebSocket ----

pub type Ws = WebSocketStream<Counted<TcpStream>>;

/// Opens `/ws...`, optionally asking for a subprotocol.
pub async fn ws_connect(addr: SocketAddr, path: &str, protocol: Option<&str>) -> Ws {
    ws_connect_over(counted_tcp(addr).await, addr, path, protocol).await
}

pub async fn ws_connect_over(
    stream: Counted<TcpStream>,
    addr: SocketAddr,
    path: &str,
    protocol: Option<&str>,
) -> Ws {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let (ws, resp) = within(
        "a websocket handshake",
        tokio_tungstenite::client_async(req, stream),
    )
    .await
    .unwrap();
    let chosen = resp
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(chosen.as_deref(), protocol);
    ws
}

/// What a client can receive on a WebSocket, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Plain(Kind, Vec<u8>),
    Hello(u64),
    Msg(u64, Kind, Vec<u8>),
    Gap {
        requested_since: u64,
        oldest_seq: u64,
    },
    Close(Option<(u16, String)>),
    End,
}

/// The next data or close frame (pings are answered by tungstenite).
pub async fn ws_next(ws: &mut Ws, v1: bool) -> Got {
    loop {
        let msg = match within("a websocket frame", ws.next()).await {
            None => return Got::End,
            Some(Err(e)) => panic!("websocket error: {e}"),
            Some(Ok(m)) => m,
        };
        return match msg {
            Message::Text(t) if !v1 => Got::Plain(Kind::Text, t.as_bytes().to_vec()),
            Message::Binary(b) if !v1 => Got::Plain(Kind::Binary, b.to_vec()),
            Message::Binary(b) => match frame::decode(&b).unwrap() {
                V1Frame::Hello { last_seq } => Got::Hello(last_seq),
                V1Frame::Message { seq, kind, payload } => Got::Msg(seq, kind, payload.to_vec()),
                V1Frame::Gap {
                    requested_since,
                    oldest_seq,
                } => Got::Gap {
                    requested_since,
                    oldest_seq,
                },
            },
            Message::Text(t) => panic!("text frame under pushpoll.v1: {t}"),
            Message::Close(f) => Got::Close(
                f.map(|CloseFrame { code, reason }| (u16::from(code), reason.to_string())),
            ),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
    }
}

/// A server that disconnects a subscriber 8 messages behind (history 64),
/// and gives the parting words time: the tests read the slow client only
/// after the server gave up on it.
pub fn slow_consumer_config() -> pushpoll_server::Config {
    pushpoll_server::Config {
        limits: pushpoll_server::Limits {
            max_subscriber_lag: 8,
            history: 64,
            close_timeout: std::time::Duration::from_secs(60),
            ..pushpoll_server::Limits::default()
        },
        ..pushpoll_server::Config::default()
    }
}

/// A `pushpoll.v1` WebSocket over a 4 KiB receive window, not read until
/// the test says so: a slow consumer.
pub async fn slow_v1_ws(addr: SocketAddr) -> Ws {
    ws_connect_over(
        small_window_tcp(addr).await,
        addr,
        "/ws",
        Some("pushpoll.v1"),
    )
    .await
}

/// Reads a slow consumer's session to its end: the hello, every message in
/// order (text of `len` bytes), then a Close `1008` naming where to resume,
/// and the end once the echo went out. Returns the last seq received.
pub async fn read_slow_consumer(ws: &mut Ws, len: usize) -> u64 {
    assert_eq!(ws_next(ws, true).await, Got::Hello(0));
    let mut got = 0;
    let (code, reason) = loop {
        match ws_next(ws, true).await {
            Got::Msg(seq, Kind::Text, p) => {
                assert_eq!((seq, p.len()), (got + 1, len));
                got = seq;
            }
            Got::Close(Some(close)) => break close,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code, 1008);
    assert!(reason.starts_with("slow consumer: "), "{reason}");
    assert!(
        reason.ends_with(&format!("messages behind; resume with since={got}")),
        "{reason} after {got}"
    );
    // Reading on sends the echo of the Close, which ends the session.
    assert_eq!(ws_next(ws, true).await, Got::End);
    got
}

/// Sends a Close and reads until the server's echo and the end of the stream.
pub async fn ws_close(mut ws: Ws) {
    ws.close(None).await.unwrap();
    within("the close echo", async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

pub async fn ws_send(ws: &mut Ws, kind: Kind, payload: &[u8]) {
    let msg = match kind {
        Kind::Text => Message::text(std::str::from_utf8(payload).unwrap()),
        Kind::Binary => Message::binary(payload.to_vec()),
    };
    ws.send(msg).await.unwrap();
}

// ---- raw sockets ----

/// Writes `request` as is and reads until the server closes (or `limit` bytes).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned()
}
