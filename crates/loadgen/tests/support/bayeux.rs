//! A minimal Bayeux server over HTTP long-polling (`POST /bayeux`, JSON
//! arrays) and WebSocket (an upgrade at any path, JSON arrays as frames):
//! handshake, subscribe, connect (held until the client has messages or
//! `hold_ms` passes; over WebSocket, messages are pushed at once and the
//! connect answered after `hold_ms`) and publish (relayed to every
//! subscriber of the channel), with counts of what it received. It can also misbehave:
//! answer garbage, refuse handshakes, answer with a huge body, or forget
//! each client at its first connect (`401:<id>:Unknown client`, as Faye says).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message;

type WsTx = mpsc::UnboundedSender<String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// As the protocol says.
    #[default]
    Good,
    /// Every answer is an HTML error page with status 200.
    Garbage,
    /// Every handshake is answered `successful:false`.
    RefuseHandshake,
    /// Every answer is 5 MiB of JSON (over the generator's 4 MiB limit).
    Huge,
    /// The clients of the first N handshakes are forgotten at their first
    /// connect, which is answered `401:<id>:Unknown client`.
    ForgetFirst(u64),
    /// Every connect is answered with `advice.reconnect: none`.
    AdviseNone,
}

#[derive(Debug, Default)]
struct Client {
    queue: Mutex<Vec<Value>>,
    notify: Notify,
    /// To be forgotten at its first connect.
    forget: bool,
    /// Its WebSocket, when it handshook over one.
    ws: Option<WsTx>,
}

#[derive(Debug, Default)]
pub struct Counts {
    pub posts: AtomicU64,
    pub ws_handshakes: AtomicU64,
    pub handshakes: AtomicU64,
    pub subscribes: AtomicU64,
    pub connects: AtomicU64,
    pub publishes: AtomicU64,
    /// Connects answered without a data message.
    pub empty_connects: AtomicU64,
    /// Channels subscribed to, one entry per subscription.
    pub channels: Mutex<Vec<String>>,
}

struct Shared {
    behaviour: Behaviour,
    hold: Duration,
    clients: Mutex<HashMap<String, Arc<Client>>>,
    /// Channel → subscribed client ids.
    subs: Mutex<HashMap<String, Vec<String>>>,
    counts: Arc<Counts>,
    next: AtomicU64,
}

pub struct BayeuxServer {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
}

impl BayeuxServer {
    pub async fn start(behaviour: Behaviour, hold_ms: u64) -> BayeuxServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            behaviour,
            hold: Duration::from_millis(hold_ms),
            clients: Mutex::default(),
            subs: Mutex::default(),
            counts: Arc::default(),
            next: AtomicU64::new(0),
        });
        let counts = shared.counts.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(shared.clone(), tcp));
            }
        });
        BayeuxServer { addr, counts }
    }

    pub fn url(&self) -> String {
        format!("http://{}/bayeux", self.addr)
    }
}

/// Routes a connection: a WebSocket upgrade, or plain HTTP.
async fn serve(st: Arc<Shared>, tcp: TcpStream) {
    let mut buf = vec![0u8; 4096];
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
        return serve_ws(st, tcp).await;
    }
    let svc = service_fn(move |req| {
        let st = st.clone();
        async move { Ok::<_, Infallible>(handle(st, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tcp), svc)
        .await;
}

async fn serve_ws(st: Arc<Shared>, tcp: TcpStream) {
    st.counts.ws_handshakes.fetch_add(1, Relaxed);
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(Message::text(frame)).await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(t) = msg else { continue };
        if st.behaviour == Behaviour::Garbage {
            let _ = tx.send("<html>502 Bad Gateway</html>".into());
            continue;
        }
        let Ok(Value::Array(msgs)) = serde_json::from_str::<Value>(t.as_str()) else {
            return;
        };
        let mut out = Vec::new();
        for m in msgs {
            message(&st, m, &mut out, Some(&tx)).await;
        }
        if !out.is_empty() {
            let _ = tx.send(Value::Array(out).to_string());
        }
    }
    writer.abort();
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

async fn handle(st: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != http::Method::POST || req.uri().path() != "/bayeux" {
        return answer(StatusCode::NOT_FOUND, "");
    }
    st.counts.posts.fetch_add(1, Relaxed);
    let Ok(body) = req.into_body().collect().await else {
        return answer(StatusCode::BAD_REQUEST, "");
    };
    match st.behaviour {
        Behaviour::Garbage => return answer(StatusCode::OK, "<html>502 Bad Gateway</html>"),
        Behaviour::Huge => {
            let mut big = b"[{\"channel\":\"/meta/handshake\",\"x\":\"".to_vec();
            big.resize(5 << 20, b'x');
            big.extend_from_slice(b"\"}]");
            return answer(StatusCode::OK, big);
        }
        _ => {}
    }
    let Ok(Value::Array(msgs)) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return answer(StatusCode::BAD_REQUEST, "");
    };
    let mut out = Vec::new();
    for m in msgs {
        message(&st, m, &mut out, None).await;
    }
    answer(StatusCode::OK, Value::Array(out).to_string())
}

/// Answers one message into `out`; `ws` is the client's WebSocket, if the
/// message came over one.
async fn message(st: &Shared, m: Value, out: &mut Vec<Value>, ws: Option<&WsTx>) {
    let channel = m["channel"].as_str().unwrap_or_default().to_owned();
    let id = m["id"].clone();
    let client_id = m["clientId"].as_str().unwrap_or_default().to_owned();
    let client = st.clients.lock().unwrap().get(&client_id).cloned();
    let unknown = || {
        json!({"id": id, "channel": channel, "successful": false,
               "error": format!("401:{client_id}:Unknown client"),
               "advice": {"reconnect": "handshake"}})
    };
    match channel.as_str() {
        "/meta/handshake" => {
            st.counts.handshakes.fetch_add(1, Relaxed);
            if st.behaviour == Behaviour::RefuseHandshake {
                out.push(json!({"id": id, "channel": channel, "successful": false,
                                "error": "403::Handshake denied", "advice": {"reconnect": "none"}}));
                return;
            }
            let n = st.next.fetch_add(1, Relaxed);
            let cid = format!("c{n}");
            let forget = matches!(st.behaviour, Behaviour::ForgetFirst(first) if n < first);
            let client = Client {
                forget,
                ws: ws.cloned(),
                ..Client::default()
            };
            st.clients
                .lock()
                .unwrap()
                .insert(cid.clone(), Arc::new(client));
            out.push(
                json!({"id": id, "channel": channel, "successful": true, "version": "1.0",
                            "supportedConnectionTypes": ["long-polling"], "clientId": cid,
                            "advice": {"reconnect": "retry", "interval": 0,
                                       "timeout": st.hold.as_millis() as u64}}),
            );
        }
        "/meta/subscribe" => {
            st.counts.subscribes.fetch_add(1, Relaxed);
            let Some(_) = client else {
                return out.push(unknown());
            };
            let sub = m["subscription"].as_str().unwrap_or_default().to_owned();
            st.counts.channels.lock().unwrap().push(sub.clone());
            st.subs
                .lock()
                .unwrap()
                .entry(sub.clone())
                .or_default()
                .push(client_id.clone());
            out.push(json!({"id": id, "channel": channel, "successful": true,
                            "clientId": client_id, "subscription": sub}));
        }
        "/meta/connect" => {
            st.counts.connects.fetch_add(1, Relaxed);
            let Some(c) = client else {
                return out.push(unknown());
            };
            if c.forget {
                st.clients.lock().unwrap().remove(&client_id);
                return out.push(unknown());
            }
            let reconnect = match st.behaviour {
                Behaviour::AdviseNone => "none",
                _ => "retry",
            };
            let reply = json!({"id": id, "channel": channel, "successful": true, "clientId": client_id,
                               "advice": {"reconnect": reconnect, "interval": 0,
                                          "timeout": st.hold.as_millis() as u64}});
            if let Some(tx) = ws {
                // Messages are pushed as they come; the connect is answered
                // when its time is up.
                let (tx, hold) = (tx.clone(), st.hold);
                tokio::spawn(async move {
                    tokio::time::sleep(hold).await;
                    let _ = tx.send(Value::Array(vec![reply]).to_string());
                });
                return;
            }
            let deadline = tokio::time::Instant::now() + st.hold;
            let data = loop {
                let notified = c.notify.notified();
                let queued = std::mem::take(&mut *c.queue.lock().unwrap());
                if !queued.is_empty() {
                    break queued;
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    break Vec::new();
                }
            };
            if data.is_empty() {
                st.counts.empty_connects.fetch_add(1, Relaxed);
            }
            out.extend(data);
            out.push(reply);
        }
        _ if channel.starts_with("/meta/") => {
            out.push(json!({"id": id, "channel": channel, "successful": false, "error": "400::Bad request"}));
        }
        _ => {
            st.counts.publishes.fetch_add(1, Relaxed);
            let subscribers = st
                .subs
                .lock()
                .unwrap()
                .get(&channel)
                .cloned()
                .unwrap_or_default();
            let clients = st.clients.lock().unwrap();
            for s in subscribers {
                let Some(c) = clients.get(&s) else { continue };
                let data = json!({"channel": channel, "data": m["data"].clone()});
                match &c.ws {
                    Some(tx) => {
                        let _ = tx.send(Value::Array(vec![data]).to_string());
                    }
                    None => {
                        c.queue.lock().unwrap().push(data);
                        c.notify.notify_one();
                    }
                }
            }
            out.push(json!({"id": id, "channel": channel, "successful": true}));
        }
    }
}
