//! A WebSocket broadcast relay like the notes' Node `ws` server: every frame
//! any client sends goes to every open client, sender included. It can be
//! told to drop, duplicate or reorder given messages for given connections,
//! or to close a connection after a given message, and it counts the bytes of
//! every connection at its own socket.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use pushpoll_testkit::{Counted, Counts};
use pushpoll_wire::marker::Marker;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// A message of one connection: (connection index, publisher, seq).
pub type Key = (usize, u32, u64);

/// What the relay does wrong, on purpose.
#[derive(Debug, Default, Clone)]
pub struct Rules {
    /// Never sent to that connection.
    pub drop: HashSet<Key>,
    /// Sent twice in a row.
    pub dup: HashSet<Key>,
    /// Held back and sent right after the next message of the same publisher.
    pub swap: HashSet<Key>,
    /// After sending it, close the connection with code 1008.
    pub close_after: HashSet<Key>,
    /// Ping every connection right after the handshake.
    pub ping_on_connect: bool,
    /// Refuse handshakes (`401`) without this header and value.
    pub require_header: Option<(&'static str, &'static str)>,
    /// Select this subprotocol when the client asks for it.
    pub select_subprotocol: Option<&'static str>,
    /// Send every message back to its sender only (an echo server).
    pub echo: bool,
    /// Never sent to anyone: (publisher, seq).
    pub drop_any: HashSet<(u32, u64)>,
    /// Relay every message rewritten as a JSON event of the relay's own,
    /// without the text it was sent (a chat server that stores the message
    /// and broadcasts its own representation).
    pub rewrite: bool,
    /// A chat room with a join step: a connection hears nothing, and what
    /// it sends is not relayed, until it sends a frame containing `.0`; the
    /// relay answers that frame with `.1`.
    pub join: Option<(&'static str, &'static str)>,
    /// Rooms by URL path: a message goes only to connections whose
    /// handshake asked for the same path as its sender's.
    pub rooms_by_path: bool,
}

/// One connection as the relay saw it.
#[derive(Debug, Default)]
pub struct Conn {
    pub bytes: Arc<Counts>,
    /// Sent at least one data frame (a publisher).
    pub publisher: AtomicBool,
    /// Its task is over.
    pub closed: AtomicBool,
    /// Pongs received.
    pub pongs: AtomicU64,
    /// The handshake request's headers.
    pub headers: Mutex<Option<http::HeaderMap>>,
    /// Handshake refused for want of the required header.
    pub refused: AtomicBool,
    /// Binary data frames received.
    pub binary_frames: AtomicU64,
    /// The join frame it sent (`Rules::join`).
    pub joined: Mutex<Option<String>>,
    /// The handshake's request target (path and query).
    pub target: Mutex<Option<String>>,
}

impl Conn {
    fn path(&self) -> Option<String> {
        let t = self.target.lock().unwrap();
        t.as_deref()
            .map(|t| t.split('?').next().unwrap_or_default().to_owned())
    }
}

type Clients = Arc<Mutex<Vec<(usize, mpsc::UnboundedSender<Message>, Arc<Conn>)>>>;

pub struct Relay {
    pub addr: SocketAddr,
    pub conns: Arc<Mutex<Vec<Arc<Conn>>>>,
    /// Frames received from publishers.
    pub received: Arc<AtomicU64>,
}

impl Relay {
    pub async fn start(rules: Rules) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let clients: Clients = Arc::default();
        let received = Arc::new(AtomicU64::new(0));
        let rules = Arc::new(rules);
        let (c2, r2) = (conns.clone(), received.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let conn = Arc::new(Conn::default());
                let idx = {
                    let mut v = c2.lock().unwrap();
                    v.push(conn.clone());
                    v.len() - 1
                };
                // Subscribe before the handshake completes, so nothing
                // published after the client sees it open can be missed.
                // (With a join step, only once it has joined.)
                let (tx, rx) = mpsc::unbounded_channel();
                if rules.join.is_none() {
                    clients
                        .lock()
                        .unwrap()
                        .push((idx, tx.clone(), conn.clone()));
                }
                tokio::spawn(serve(
                    idx,
                    tcp,
                    conn,
                    clients.clone(),
                    (tx, rx),
                    rules.clone(),
                    r2.clone(),
                ));
            }
        });
        Relay {
            addr,
            conns,
            received,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Connections that never published.
    pub fn subscriber_conns(&self) -> Vec<Arc<Conn>> {
        let v = self.conns.lock().unwrap();
        v.iter()
            .filter(|c| !c.publisher.load(Relaxed))
            .cloned()
            .collect()
    }

    /// Every connection, publishers included.
    pub fn all_conns(&self) -> Vec<Arc<Conn>> {
        self.conns.lock().unwrap().clone()
    }

    /// Binary data frames received over all connections.
    pub fn binary_frames(&self) -> u64 {
        self.all_conns()
            .iter()
            .map(|c| c.binary_frames.load(Relaxed))
            .sum()
    }

    pub fn all_closed(&self) -> bool {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.closed.load(Relaxed))
    }

    /// Pongs received over all connections.
    pub fn pongs(&self) -> u64 {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.pongs.load(Relaxed))
            .sum()
    }

    /// (read, written) over subscriber connections.
    pub fn subscriber_bytes(&self) -> (u64, u64) {
        self.subscriber_conns().iter().fold((0, 0), |(r, w), c| {
            (r + c.bytes.read(), w + c.bytes.written())
        })
    }
}

fn key_of(idx: usize, msg: &Message) -> Option<(Key, u32)> {
    let m = match msg {
        Message::Text(t) => Marker::find(t.as_bytes()),
        Message::Binary(b) => Marker::find(b),
        _ => None,
    }?;
    Some(((idx, m.publisher, m.seq), m.publisher))
}

async fn serve(
    idx: usize,
    tcp: tokio::net::TcpStream,
    conn: Arc<Conn>,
    clients: Clients,
    (tx, mut rx): (
        mpsc::UnboundedSender<Message>,
        mpsc::UnboundedReceiver<Message>,
    ),
    rules: Arc<Rules>,
    received: Arc<AtomicU64>,
) {
    let stream = Counted::new(tcp, conn.bytes.clone());
    let (c2, r2) = (conn.clone(), rules.clone());
    // The error type is the one tungstenite's callback asks for.
    #[allow(clippy::result_large_err)]
    let check = move |req: &http::Request<()>,
                      mut resp: http::Response<()>|
          -> Result<http::Response<()>, http::Response<Option<String>>> {
        *c2.headers.lock().unwrap() = Some(req.headers().clone());
        *c2.target.lock().unwrap() = Some(req.uri().to_string());
        if let Some((name, value)) = r2.require_header {
            let ok = req
                .headers()
                .get_all(name)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v == value));
            if !ok {
                c2.refused.store(true, Relaxed);
                return Err(http::Response::builder()
                    .status(401)
                    .body(Some("missing credentials".into()))
                    .unwrap());
            }
        }
        if let Some(p) = r2.select_subprotocol {
            let asked = req
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == p));
            if asked {
                resp.headers_mut()
                    .insert("sec-websocket-protocol", p.parse().unwrap());
            }
        }
        Ok(resp)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, check).await {
        Ok(ws) => ws,
        Err(_) => {
            clients.lock().unwrap().retain(|(i, _, _)| *i != idx);
            conn.closed.store(true, Relaxed);
            return;
        }
    };
    let (mut sink, mut stream) = ws.split();
    if rules.ping_on_connect
        && sink
            .send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .is_err()
    {
        return;
    }
    let echo = rules.echo;
    let rules_rewrite = rules.rewrite;
    let join_step = rules.join;
    let rooms_by_path = rules.rooms_by_path;
    let writer = tokio::spawn(async move {
        let mut held: Option<(Message, u32)> = None;
        while let Some(msg) = rx.recv().await {
            let Some((key, publisher)) = key_of(idx, &msg) else {
                if sink.send(msg).await.is_err() {
                    return;
                }
                continue;
            };
            if rules.drop.contains(&key) || rules.drop_any.contains(&(key.1, key.2)) {
                continue;
            }
            if rules.swap.contains(&key) {
                held = Some((msg, publisher));
                continue;
            }
            let copies = if rules.dup.contains(&key) { 2 } else { 1 };
            for _ in 0..copies {
                if sink.send(msg.clone()).await.is_err() {
                    return;
                }
            }
            if held.as_ref().is_some_and(|(_, p)| *p == publisher) {
                let (h, _) = held.take().unwrap();
                if sink.send(h).await.is_err() {
                    return;
                }
            }
            if rules.close_after.contains(&key) {
                let frame = CloseFrame {
                    code: CloseCode::Policy,
                    reason: "test relay closes".into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(ref t)
                if join_step.is_some() && conn.joined.lock().unwrap().is_none() =>
            {
                let (want, reply) = join_step.unwrap();
                if t.as_str().contains(want) {
                    *conn.joined.lock().unwrap() = Some(t.as_str().to_owned());
                    let _ = tx.send(Message::text(reply));
                    clients
                        .lock()
                        .unwrap()
                        .push((idx, tx.clone(), conn.clone()));
                }
            }
            Message::Text(_) | Message::Binary(_)
                if join_step.is_some() && conn.joined.lock().unwrap().is_none() => {}
            Message::Text(_) | Message::Binary(_) => {
                conn.publisher.store(true, Relaxed);
                received.fetch_add(1, Relaxed);
                if matches!(msg, Message::Binary(_)) {
                    conn.binary_frames.fetch_add(1, Relaxed);
                }
                let msg = if rules_rewrite {
                    Message::text(r#"{"event":"message","from":"someone"}"#)
                } else {
                    msg
                };
                let room = rooms_by_path.then(|| conn.path());
                for (i, tx, other) in clients.lock().unwrap().iter() {
                    let in_room = room.as_ref().is_none_or(|r| *r == other.path());
                    if (!echo || *i == idx) && in_room {
                        let _ = tx.send(msg.clone());
                    }
                }
            }
            Message::Close(_) => break,
            Message::Pong(_) => {
                conn.pongs.fetch_add(1, Relaxed);
            }
            _ => {}
        }
    }
    clients.lock().unwrap().retain(|(i, _, _)| *i != idx);
    // The writer ends when every sender of its channel is gone.
    drop(tx);
    let _ = writer.await;
    conn.closed.store(true, Relaxed);
}
