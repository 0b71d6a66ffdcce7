//! A minimal Engine.IO v4 / Socket.IO v5 chat server, like socket.io's chat
//! example: every `chat message` event goes to every connected socket
//! (sender included). Long polling (`GET` / `POST` with `sid`, packets joined
//! by `\x1e`), WebSocket (`transport=websocket`, with or without a `sid` to
//! upgrade: `2probe` / `3probe` / `5`), server pings every `ping_ms`, and
//! counts of what it received. It can require a header on every request.
//! Packets are read and written with the generator's own codec,
//! `pushpoll_wire::engineio`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pushpoll_wire::engineio::{self, Open, Packet, SioPacket};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy)]
pub struct SioOpts {
    pub ping_ms: u64,
    pub require_header: Option<(&'static str, &'static str)>,
    /// Relay events under this name instead of their own.
    pub rename_to: Option<&'static str>,
}

#[derive(Debug, Default)]
pub struct Session {
    queue: Mutex<Vec<String>>,
    notify: Notify,
    ws: Mutex<Option<mpsc::UnboundedSender<String>>>,
    /// Sent `40`.
    pub connected: AtomicBool,
    /// Pongs received.
    pub pongs: AtomicU64,
    /// Events received from it.
    pub events: AtomicU64,
    /// Upgraded from polling to WebSocket.
    pub upgraded: AtomicBool,
}

impl Session {
    fn send(&self, packet: String) {
        if let Some(tx) = self.ws.lock().unwrap().as_ref() {
            let _ = tx.send(packet);
            return;
        }
        self.queue.lock().unwrap().push(packet);
        self.notify.notify_one();
    }
}

#[derive(Debug, Default)]
pub struct Counts {
    pub handshakes: AtomicU64,
    pub gets: AtomicU64,
    pub posts: AtomicU64,
    pub ws_handshakes: AtomicU64,
    pub refused: AtomicU64,
    /// Polling answers that carried more than one packet.
    pub batched: AtomicU64,
}

pub struct SioServer {
    pub addr: SocketAddr,
    pub sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
    pub counts: Arc<Counts>,
}

struct Shared {
    opts: SioOpts,
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
    counts: Arc<Counts>,
    next: AtomicU64,
}

impl SioServer {
    pub async fn start(opts: SioOpts) -> SioServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            opts,
            sessions: Arc::default(),
            counts: Arc::default(),
            next: AtomicU64::new(0),
        });
        let (sessions, counts) = (shared.sessions.clone(), shared.counts.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(shared.clone(), tcp));
            }
        });
        SioServer {
            addr,
            sessions,
            counts,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        self.sessions.lock().unwrap().values().cloned().collect()
    }
}

fn query(uri: &http::Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

fn authorised(sh: &Shared, headers: &http::HeaderMap) -> bool {
    let Some((name, value)) = sh.opts.require_header else {
        return true;
    };
    let ok = headers
        .get_all(name)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v == value));
    if !ok {
        sh.counts.refused.fetch_add(1, Relaxed);
    }
    ok
}

/// Routes a connection: a WebSocket upgrade, or plain HTTP (polling).
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

fn new_session(sh: &Shared) -> (String, Arc<Session>, String) {
    let sid = format!("sid{}", sh.next.fetch_add(1, Relaxed));
    let session = Arc::new(Session::default());
    sh.sessions
        .lock()
        .unwrap()
        .insert(sid.clone(), session.clone());
    let ping_ms = sh.opts.ping_ms;
    let weak = Arc::downgrade(&session);
    tokio::spawn(async move {
        let mut t = tokio::time::interval(Duration::from_millis(ping_ms));
        t.tick().await;
        loop {
            t.tick().await;
            let Some(s) = weak.upgrade() else { return };
            s.send(engineio::PING.into());
        }
    });
    let open = Open {
        sid: sid.clone(),
        upgrades: vec!["websocket".into()],
        ping_interval: ping_ms,
        ping_timeout: 20000,
        max_payload: 1_000_000,
    };
    (sid, session, open.encode())
}

/// One packet a client sent.
fn on_packet(sh: &Shared, sid: &str, session: &Session, p: &str) {
    match engineio::packet(p) {
        Packet::Pong(_) => {
            session.pongs.fetch_add(1, Relaxed);
        }
        Packet::Message(m) => match engineio::sio(m, "") {
            SioPacket::Connect => {
                session.connected.store(true, Relaxed);
                session.send(engineio::connected(&format!("s-{sid}")));
            }
            SioPacket::Event { raw, .. } => {
                session.events.fetch_add(1, Relaxed);
                let out = match sh.opts.rename_to {
                    // The same payload under another name.
                    Some(to) => match serde_json::from_str::<(String, String)>(&raw[1..]) {
                        Ok((_, payload)) => engineio::emit(to, &payload),
                        Err(_) => return,
                    },
                    None => p.to_owned(),
                };
                let all: Vec<Arc<Session>> =
                    sh.sessions.lock().unwrap().values().cloned().collect();
                for s in all.iter().filter(|s| s.connected.load(Relaxed)) {
                    s.send(out.clone());
                }
            }
            _ => {}
        },
        _ => {}
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=UTF-8")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn http(sh: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if !authorised(&sh, req.headers()) {
        return text(StatusCode::UNAUTHORIZED, "no".into());
    }
    if req.uri().path() != "/socket.io/" || query(req.uri(), "EIO").as_deref() != Some("4") {
        return text(StatusCode::BAD_REQUEST, "bad path".into());
    }
    let Some(sid) = query(req.uri(), "sid") else {
        sh.counts.handshakes.fetch_add(1, Relaxed);
        let (_, _, open) = new_session(&sh);
        return text(StatusCode::OK, open);
    };
    let Some(session) = sh.sessions.lock().unwrap().get(&sid).cloned() else {
        return text(StatusCode::BAD_REQUEST, "unknown sid".into());
    };
    if req.method() == http::Method::POST {
        sh.counts.posts.fetch_add(1, Relaxed);
        let body = req.into_body().collect().await.unwrap().to_bytes();
        for p in engineio::payload(&String::from_utf8_lossy(&body)) {
            on_packet(&sh, &sid, &session, p);
        }
        return text(StatusCode::OK, "ok".into());
    }
    sh.counts.gets.fetch_add(1, Relaxed);
    loop {
        let packets = std::mem::take(&mut *session.queue.lock().unwrap());
        if !packets.is_empty() {
            if packets.len() > 1 {
                sh.counts.batched.fetch_add(1, Relaxed);
            }
            return text(StatusCode::OK, engineio::join(&packets));
        }
        session.notify.notified().await;
    }
}

async fn serve_ws(sh: Arc<Shared>, tcp: TcpStream) {
    let uri = Arc::new(Mutex::new(None));
    let (u2, sh2) = (uri.clone(), sh.clone());
    #[allow(clippy::result_large_err)]
    let check = move |req: &http::Request<()>, resp: http::Response<()>| {
        if !authorised(&sh2, req.headers()) {
            return Err(http::Response::builder()
                .status(401)
                .body(Some("no".into()))
                .unwrap());
        }
        *u2.lock().unwrap() = Some(req.uri().clone());
        Ok(resp)
    };
    sh.counts.ws_handshakes.fetch_add(1, Relaxed);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else {
        return;
    };
    let uri = uri.lock().unwrap().clone().unwrap();
    let (mut sink, mut stream) = ws.split();
    let (sid, session) = match query(&uri, "sid") {
        None => {
            let (sid, session, open) = new_session(&sh);
            if sink.send(Message::text(open)).await.is_err() {
                return;
            }
            (sid, session)
        }
        Some(sid) => {
            let Some(session) = sh.sessions.lock().unwrap().get(&sid).cloned() else {
                return;
            };
            // The upgrade: 2probe → 3probe, then 5.
            match stream.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == engineio::PROBE => {}
                _ => return,
            }
            if sink
                .send(Message::text(engineio::PROBE_ANSWER))
                .await
                .is_err()
            {
                return;
            }
            match stream.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == engineio::UPGRADE => {}
                _ => return,
            }
            session.upgraded.store(true, Relaxed);
            (sid, session)
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    {
        let mut slot = session.ws.lock().unwrap();
        for p in std::mem::take(&mut *session.queue.lock().unwrap()) {
            let _ = tx.send(p);
        }
        *slot = Some(tx);
    }
    let writer = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            if sink.send(Message::text(p)).await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        if let Message::Text(t) = msg {
            on_packet(&sh, &sid, &session, t.as_str());
        }
    }
    *session.ws.lock().unwrap() = None;
    writer.abort();
}
