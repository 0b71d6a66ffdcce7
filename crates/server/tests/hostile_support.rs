//! Tools of the hostile-input suite (`hostile.rs`):
//!
//! - [`Witnesses`]: a well-behaved WebSocket subscriber and long poller,
//!   connected before an attack, that must still receive a message
//!   published during or after it.
//! - [`RawWs`]: a WebSocket client over a bare `TcpStream` that writes frames
//!   byte by byte ([`frame`]), so masking, RSV bits, opcodes, lengths and
//!   fragmentation are the test's to choose, and reads the server's frames.
//! - [`exchange`]: raw HTTP bytes in, everything the server says until it
//!   closes out.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{metric, metrics_until, within, TestServer};
use pushpoll_wire::Kind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// Limits small enough that every one of them is cheap to hit.
pub fn hostile_limits() -> Limits {
    Limits {
        max_connections: 64,
        max_header_bytes: 4096,
        max_headers: 32,
        max_body_bytes: 4096,
        ws_max_frame_bytes: 4096,
        ws_max_message_bytes: 8192,
        header_read_timeout: Duration::from_secs(2),
        close_timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

/// A server with [`hostile_limits`] and its witnesses, connected.
pub async fn setup() -> (TestServer, Witnesses) {
    setup_with(hostile_limits()).await
}

pub async fn setup_with(limits: Limits) -> (TestServer, Witnesses) {
    let server = TestServer::start(Config {
        limits,
        ..Config::default()
    })
    .await;
    let witnesses = Witnesses::connect(server.addr).await;
    (server, witnesses)
}

// ---- witnesses ----

/// A WebSocket subscriber and a long poller that behave, each reporting the
/// payloads it receives on a channel. Both are connected (the long poll
/// held) when [`Witnesses::connect`] returns.
pub struct Witnesses {
    addr: SocketAddr,
    ws: mpsc::UnboundedReceiver<Vec<u8>>,
    long_poll: mpsc::UnboundedReceiver<Vec<u8>>,
    tasks: Vec<JoinHandle<()>>,
    checks: u32,
}

impl Drop for Witnesses {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Polls a long poller makes at most, so its loop is bounded.
const MAX_POLLS: usize = 10_000;

impl Witnesses {
    pub async fn connect(addr: SocketAddr) -> Witnesses {
        let (ws_tx, ws_rx) = mpsc::unbounded_channel();
        let mut ws = ws_connect(addr, "/ws", None).await;
        let ws_task = tokio::spawn(async move {
            // Reading also answers the server's pings (tungstenite queues
            // the Pong and sends it on the next read).
            while let Some(Ok(msg)) = ws.next().await {
                let payload = match msg {
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Binary(b) => b.to_vec(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                if ws_tx.send(payload).is_err() {
                    break;
                }
            }
        });

        let (lp_tx, lp_rx) = mpsc::unbounded_channel();
        let mut http = Http::connect(addr).await;
        let mut since = http.get("/messages").await.poll().last_seq;
        let lp_task = tokio::spawn(async move {
            for _ in 0..MAX_POLLS {
                let path = format!("/messages?since={since}&wait=30");
                let answer = http.get(&path).await.poll();
                since = answer.next_since();
                for m in answer.messages {
                    if lp_tx.send(m.payload().unwrap().1).is_err() {
                        return;
                    }
                }
            }
        });
        metrics_until(addr, "the witness long poll to be held", |m| {
            metric(m, "pushpoll_connections", Some("long_poll")) >= 1.0
                && metric(m, "pushpoll_connections", Some("ws")) >= 1.0
        })
        .await;
        Witnesses {
            addr,
            ws: ws_rx,
            long_poll: lp_rx,
            tasks: vec![ws_task, lp_task],
            checks: 0,
        }
    }

    /// Publishes a fresh message (on a new connection) and waits until both
    /// witnesses have it.
    pub async fn check(&mut self, label: &str) {
        self.checks += 1;
        let payload = format!("witness {label} #{}", self.checks).into_bytes();
        Http::connect(self.addr)
            .await
            .publish(Kind::Text, &payload)
            .await;
        self.expect(&payload).await;
    }

    /// Waits until both witnesses have received `payload` (published by
    /// anyone), skipping whatever came before it.
    pub async fn expect(&mut self, payload: &[u8]) {
        for (name, rx) in [
            ("websocket", &mut self.ws),
            ("long poll", &mut self.long_poll),
        ] {
            within(&format!("the {name} witness to get {payload:?}"), async {
                loop {
                    match rx.recv().await {
                        Some(p) if p == payload => break,
                        Some(_) => {}
                        None => panic!("the {name} witness is gone"),
                    }
                }
            })
            .await;
        }
    }
}

// ---- raw HTTP ----

/// Writes `request`, then reads until the server closes the socket (or
/// resets it); returns what it said. Panics if it never closes.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading it all.
    let _ = s.write_all(request).await;
    read_to_close(&mut s).await
}

/// Everything the server writes until it closes `s`, as text.
pub async fn read_to_close(s: &mut TcpStream) -> String {
    String::from_utf8_lossy(&pushpoll_testkit::read_to_close(s).await).into_owned()
}

/// The status code of the first answer in `answer`, if any.
pub fn status_of(answer: &str) -> Option<u16> {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

/// The body of the first answer in `answer`: after the blank line, as long
/// as its `content-length` says (the rest is the next answer).
pub fn body_of(answer: &str) -> &str {
    let Some((head, rest)) = answer.split_once("\r\n\r\n") else {
        return "";
    };
    let len = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(rest.len());
    rest.get(..len).unwrap_or(rest)
}

/// The JSON `error` of an answer that must have one.
pub fn json_error(answer: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body_of(answer))
        .unwrap_or_else(|e| panic!("not a JSON body ({e}): {answer:?}"));
    v["error"].as_str().expect("an `error` string").to_owned()
}

// ---- raw WebSocket ----

/// Opcodes (RFC 6455 §5.2).
pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The masking key every masked test frame uses.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame exactly as given: `rsv` is the three RSV bits (0..=7), `mask`
/// `None` sends the payload unmasked (which a client must never do).
pub fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_head(fin, rsv, opcode, mask, payload.len() as u64);
    match mask {
        Some(key) => out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4])),
        None => out.extend_from_slice(payload),
    }
    out
}

/// The header of a frame announcing `len` payload bytes (sent alone, it
/// claims a payload that never comes).
pub fn frame_head(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f)];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(m | len as u8),
        126..=0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A well-formed client frame: final, no RSV bits, masked.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, 0, opcode, Some(MASK), payload)
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The code of a Close frame (1005 when it has none).
    pub fn close_code(&self) -> u16 {
        match self.payload.get(..2) {
            Some(c) => u16::from_be_bytes([c[0], c[1]]),
            None => 1005,
        }
    }
}

/// A WebSocket client that writes whatever bytes it is told to.
pub struct RawWs {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// The key of every raw handshake (RFC 6455's own example).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A plain `GET /ws` handshake request.
pub fn handshake_request() -> String {
    format!(
        "GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: {KEY}\r\nsec-websocket-version: 13\r\n\r\n"
    )
}

impl RawWs {
    /// Connects and completes a plain handshake (`101` required).
    pub async fn connect(addr: SocketAddr) -> RawWs {
        let (ws, status) = RawWs::try_connect(addr).await;
        assert_eq!(status, Some(101), "websocket handshake refused");
        ws
    }

    /// Sends the handshake and reads the answer's head; returns its status.
    pub async fn try_connect(addr: SocketAddr) -> (RawWs, Option<u16>) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .write_all(handshake_request().as_bytes())
            .await
            .unwrap();
        let mut ws = RawWs {
            stream,
            buf: Vec::new(),
        };
        let head = within("the handshake answer", async {
            loop {
                if let Some(end) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head: Vec<u8> = ws.buf.drain(..end + 4).collect();
                    return Some(String::from_utf8_lossy(&head).into_owned());
                }
                if !ws.fill().await {
                    return None;
                }
            }
        })
        .await;
        let status = head.as_deref().and_then(status_of);
        (ws, status)
    }

    /// Writes raw bytes; false if the server has closed the socket.
    pub async fn write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Reads more bytes into the buffer; false at the end of the stream
    /// (or a reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn need(&mut self, n: usize) -> bool {
        while self.buf.len() < n {
            if !self.fill().await {
                return false;
            }
        }
        true
    }

    /// The next frame from the server; `None` when the socket ends.
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        within("a frame from the server", async {
            if !self.need(2).await {
                return None;
            }
            let (b0, b1) = (self.buf[0], self.buf[1]);
            assert_eq!(b1 & 0x80, 0, "the server masked a frame");
            let (len, head) = match b1 & 0x7f {
                126 => {
                    if !self.need(4).await {
                        return None;
                    }
                    (u64::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4)
                }
                127 => {
                    if !self.need(10).await {
                        return None;
                    }
                    let b: [u8; 8] = self.buf[2..10].try_into().unwrap();
                    (u64::from_be_bytes(b), 10)
                }
                n => (u64::from(n), 2),
            };
            let total = head + usize::try_from(len).unwrap();
            if !self.need(total).await {
                return None;
            }
            let payload = self.buf[head..total].to_vec();
            self.buf.drain(..total);
            Some(ServerFrame {
                fin: b0 & 0x80 != 0,
                opcode: b0 & 0x0f,
                payload,
            })
        })
        .await
    }

    /// Reads past data and control frames to the server's Close, answers
    /// it, and reads on until the server ends the socket. Returns the Close
    /// frame's code; panics if the socket ends without one.
    pub async fn close_code(&mut self) -> u16 {
        let code = loop {
            match self.next_frame().await {
                None => panic!("the server ended the socket without a Close frame"),
                Some(f) if f.opcode == CLOSE => break f.close_code(),
                Some(_) => {}
            }
        };
        let echo = client_frame(CLOSE, &code.to_be_bytes());
        let _ = self.stream.write_all(&echo).await;
        within("the server to end the socket after Close", async {
            while self.next_frame().await.is_some() {}
        })
        .await;
        code
    }

    /// Sends `frames` on a fresh connection and returns the server's Close code.
    pub async fn refused_with(addr: SocketAddr, frames: &[u8]) -> u16 {
        let mut ws = RawWs::connect(addr).await;
        ws.write(frames).await;
        ws.close_code().await
    }
}

/// The resident memory of this process (server and clients together), KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}
