//! A minimal SockJS chat server (prefix `/chat`), like the sockjs-node peer:
//! every message any session sends goes to every open session. `/info`,
//! xhr-polling (`POST .../xhr`), xhr-streaming (`POST .../xhr_streaming`,
//! the 2 KiB prelude, the answer ended after `stream_limit` bytes as
//! sockjs-node does after 128 KiB), `xhr_send`, and WebSocket. A
//! [`Fault`] makes it misbehave in one way, for the error paths; it counts
//! every request it received, by kind.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message;

/// How the server misbehaves (every session, every transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// `/info` is 404.
    NoInfo,
    /// `/info` says `"websocket": false`.
    WebsocketOff,
    /// The first frame is garbage instead of `o`.
    Garbage,
    /// The first frame is `c[3000,"Go away!"]`.
    CloseAtOpen,
    /// After `o`, a 2 MiB frame (without a newline on xhr-streaming), or a
    /// 2 MiB poll answer of small frames.
    Oversized,
    /// Every HTTP answer says `Connection: close` (not a fault: HTTP/1.0
    /// proxies do it), so every poll and stream needs a new connection.
    CloseConnections,
}

#[derive(Debug, Default)]
pub struct Counts {
    /// TCP connections accepted.
    pub connections: AtomicU64,
    pub info: AtomicU64,
    pub polls: AtomicU64,
    pub streams: AtomicU64,
    pub sends: AtomicU64,
    pub ws_handshakes: AtomicU64,
    /// Messages received from clients.
    pub messages: AtomicU64,
}

#[derive(Debug, Default)]
struct Session {
    queue: Mutex<Vec<String>>,
    notify: Notify,
    ws: Mutex<Option<mpsc::UnboundedSender<String>>>,
    opened: std::sync::atomic::AtomicBool,
}

impl Session {
    fn send(&self, msg: String) {
        if let Some(tx) = self.ws.lock().unwrap().as_ref() {
            let _ = tx.send(msg);
            return;
        }
        self.queue.lock().unwrap().push(msg);
        self.notify.notify_one();
    }
}

struct Shared {
    fault: Fault,
    stream_limit: usize,
    heartbeat: Duration,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    counts: Arc<Counts>,
}

pub struct SockJsServer {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
}

impl SockJsServer {
    pub async fn start(fault: Fault, stream_limit: usize) -> SockJsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let shared = Arc::new(Shared {
            fault,
            stream_limit,
            heartbeat: Duration::from_millis(50),
            sessions: Mutex::default(),
            counts: counts.clone(),
        });
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                shared.counts.connections.fetch_add(1, Relaxed);
                tokio::spawn(serve(shared.clone(), tcp));
            }
        });
        SockJsServer { addr, counts }
    }

    /// The SockJS prefix URL.
    pub fn url(&self) -> String {
        format!("http://{}/chat", self.addr)
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/javascript; charset=UTF-8")
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

/// `<session>` and `<transport>` of `/chat/<server>/<session>/<transport>`.
fn route(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/chat/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts[..] {
        [server, session, transport] if server.len() == 3 => {
            Some((session.to_owned(), transport.to_owned()))
        }
        _ => None,
    }
}

fn session(sh: &Shared, id: &str) -> Arc<Session> {
    sh.sessions
        .lock()
        .unwrap()
        .entry(id.to_owned())
        .or_default()
        .clone()
}

fn broadcast(sh: &Shared, msgs: Vec<String>) {
    sh.counts.messages.fetch_add(msgs.len() as u64, Relaxed);
    let all: Vec<Arc<Session>> = sh.sessions.lock().unwrap().values().cloned().collect();
    for s in all.iter().filter(|s| s.opened.load(Relaxed)) {
        for m in &msgs {
            s.send(m.clone());
        }
    }
}

/// The opening frame a session gets (or the fault's instead), and whether
/// the session goes on after it.
fn opening(sh: &Shared) -> (String, bool) {
    match sh.fault {
        Fault::Garbage => ("{\"not\":\"sockjs\"}".into(), false),
        Fault::CloseAtOpen => ("c[3000,\"Go away!\"]".into(), false),
        Fault::Oversized => (format!("o\na[\"{}", "x".repeat(2 << 20)), false),
        _ => ("o".into(), true),
    }
}

/// The next frame for a session: its queued messages, or a heartbeat.
async fn next_frame(sh: &Shared, s: &Session) -> String {
    let wait = tokio::time::timeout(sh.heartbeat, async {
        loop {
            let msgs = std::mem::take(&mut *s.queue.lock().unwrap());
            if !msgs.is_empty() {
                return msgs;
            }
            s.notify.notified().await;
        }
    });
    match wait.await {
        Ok(msgs) => format!("a{}", serde_json::to_string(&msgs).unwrap()),
        Err(_) => "h".into(),
    }
}

async fn http(sh: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let mut resp = answer(&sh, req).await;
    if sh.fault == Fault::CloseConnections {
        resp.headers_mut()
            .insert("connection", http::HeaderValue::from_static("close"));
    }
    resp
}

async fn answer(sh: &Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/chat/info" {
        sh.counts.info.fetch_add(1, Relaxed);
        return match sh.fault {
            Fault::NoInfo => reply(StatusCode::NOT_FOUND, "no"),
            Fault::WebsocketOff => reply(StatusCode::OK, r#"{"websocket":false}"#),
            _ => reply(
                StatusCode::OK,
                r#"{"websocket":true,"origins":["*:*"],"cookie_needed":false,"entropy":7}"#,
            ),
        };
    }
    let Some((id, transport)) = route(&path) else {
        return reply(StatusCode::NOT_FOUND, "no");
    };
    let s = session(sh, &id);
    match transport.as_str() {
        "xhr_send" => {
            sh.counts.sends.fetch_add(1, Relaxed);
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let Ok(msgs) = serde_json::from_slice::<Vec<String>>(&body) else {
                return reply(StatusCode::INTERNAL_SERVER_ERROR, "Broken JSON encoding.");
            };
            broadcast(sh, msgs);
            reply(StatusCode::NO_CONTENT, "")
        }
        "xhr" => {
            sh.counts.polls.fetch_add(1, Relaxed);
            if !s.opened.swap(true, Relaxed) {
                // Polling: 2 MiB of small frames, each under the frame limit.
                if sh.fault == Fault::Oversized {
                    return reply(StatusCode::OK, format!("o\n{}", "h\n".repeat(1 << 20)));
                }
                return reply(StatusCode::OK, opening(sh).0 + "\n");
            }
            reply(StatusCode::OK, next_frame(sh, &s).await + "\n")
        }
        "xhr_streaming" => {
            sh.counts.streams.fetch_add(1, Relaxed);
            let (tx, rx) = mpsc::channel::<Bytes>(16);
            let sh2 = sh.clone();
            tokio::spawn(async move {
                let mut sent = 0;
                let mut write = |text: String| {
                    sent += text.len() + 1;
                    tx.try_send(Bytes::from(text + "\n")).is_ok()
                };
                write("h".repeat(2048));
                if !s.opened.swap(true, Relaxed) {
                    let (first, goes_on) = opening(&sh2);
                    // An oversized frame has no newline: send it bare.
                    if sh2.fault == Fault::Oversized {
                        let _ = tx.send(Bytes::from(first)).await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    if !write(first) || !goes_on {
                        return;
                    }
                }
                while sent < sh2.stream_limit {
                    let frame = next_frame(&sh2, &s).await;
                    sent += frame.len() + 1;
                    if tx.send(Bytes::from(frame + "\n")).await.is_err() {
                        return;
                    }
                }
            });
            let body = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            Response::builder()
                .status(StatusCode::OK)
                .body(BodyExt::boxed(StreamBody::new(body)))
                .unwrap()
        }
        _ => reply(StatusCode::NOT_FOUND, "no"),
    }
}

/// Routes a connection: a WebSocket upgrade, or plain HTTP.
async fn serve(sh: Arc<Shared>, tcp: TcpStream) {
    let mut buf = vec![0u8; 8192];
    let head = loop {
        let Ok(n) = tcp.peek(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        let text = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        if text.contains("\r\n\r\n") || n == buf.len() {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    if head.contains("upgrade: websocket") {
        serve_ws(sh, tcp).await;
    } else {
        let svc = service_fn(move |req| {
            let sh = sh.clone();
            async move { Ok::<_, Infallible>(http(sh, req).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), svc)
            .await;
    }
}

async fn serve_ws(sh: Arc<Shared>, tcp: TcpStream) {
    let path = Arc::new(Mutex::new(String::new()));
    let p2 = path.clone();
    #[allow(clippy::result_large_err)]
    let check = move |req: &http::Request<()>, resp: http::Response<()>| {
        *p2.lock().unwrap() = req.uri().path().to_owned();
        Ok(resp)
    };
    sh.counts.ws_handshakes.fetch_add(1, Relaxed);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else {
        return;
    };
    let path = path.lock().unwrap().clone();
    let Some((id, transport)) = route(&path) else {
        return;
    };
    if transport != "websocket" || sh.fault == Fault::WebsocketOff {
        return;
    }
    let (mut sink, mut stream) = ws.split();
    let (first, goes_on) = opening(&sh);
    let first = match sh.fault {
        // Over WebSocket the oversized frame is one message past the limit.
        Fault::Oversized => {
            let _ = sink.send(Message::text("o")).await;
            format!("a[\"{}\"]", "x".repeat(2 << 20))
        }
        _ => first,
    };
    if sink.send(Message::text(first)).await.is_err() || !goes_on {
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        return;
    }
    let s = session(&sh, &id);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    *s.ws.lock().unwrap() = Some(tx);
    s.opened.store(true, Relaxed);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let frame = format!("a{}", serde_json::to_string(&[m]).unwrap());
            if sink.send(Message::text(frame)).await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        if let Message::Text(t) = msg {
            if let Ok(msgs) = serde_json::from_str::<Vec<String>>(t.as_str()) {
                broadcast(&sh, msgs);
            }
        }
    }
    *s.ws.lock().unwrap() = None;
    s.opened.store(false, Relaxed);
    writer.abort();
}
