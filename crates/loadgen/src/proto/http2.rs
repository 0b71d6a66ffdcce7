//! HTTP/2 for polling and SSE subscribers (`--http2`): subscribers share
//! connections as streams, as a browser's tabs share one connection per
//! origin.
//!
//! Subscriber `i` uses connection `i / N` (`--h2-streams-per-connection N`)
//! of an [`H2Pool`]. A connection is opened by the first of its subscribers
//! that needs it and re-opened, once, by the first that finds it closed;
//! its socket is a [`Counted`](pushpoll_netio::Counted) stream counting into
//! the connection's own [`SubIo`]. Per-subscriber byte counts mean nothing
//! when a frame of one stream, a HPACK table entry made by another and a
//! connection-level WINDOW_UPDATE share a socket, so the run's bytes are the
//! sum over connections (preface, SETTINGS, HPACK-compressed headers, DATA
//! frames, PING and GOAWAY included), and bytes per delivered message are
//! that sum over the run's deliveries, exactly as over HTTP/1.1, where the
//! sum is over subscribers' sockets. Requests are still counted per stream,
//! by each subscriber.
//!
//! Plain `http://` speaks HTTP/2 with prior knowledge (RFC 9113 §3.3);
//! `https://` asks for ALPN `h2`, and a server that does not choose it
//! fails the connection (`no_h2`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Response, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::config::trust::TlsTarget;
use crate::core::error::{error_kind, Kind};
use crate::net::connect::connect_counted;
use crate::net::count::SubIo;
use crate::proto::http::{read_answer, HttpConn};

/// The HTTP/2 connections of one run's subscribers.
#[derive(Debug)]
pub(crate) struct H2Pool {
    per_conn: usize,
    groups: Vec<Arc<H2Conn>>,
}

impl H2Pool {
    /// Room for `subscribers`, `per_conn` to a connection; nothing is
    /// opened yet.
    pub fn new(subscribers: usize, per_conn: usize) -> H2Pool {
        let per_conn = per_conn.max(1);
        let n = subscribers.div_ceil(per_conn);
        H2Pool {
            per_conn,
            groups: (0..n).map(|_| Arc::new(H2Conn::default())).collect(),
        }
    }

    /// The pool of a `--http2` run (`None` otherwise).
    pub fn for_plan(plan: &crate::config::plan::Plan) -> Option<H2Pool> {
        plan.http2.map(|n| H2Pool::new(plan.subscribers, n))
    }

    /// The connection subscriber `idx` uses.
    pub fn conn(&self, idx: usize) -> Arc<H2Conn> {
        Arc::clone(&self.groups[(idx / self.per_conn).min(self.groups.len() - 1)])
    }

    /// The socket counters of every connection, for the run's sums.
    pub fn ios(&self) -> impl Iterator<Item = &Arc<SubIo>> {
        self.groups.iter().map(|g| &g.io)
    }
}

/// One HTTP/2 connection shared by a group of subscribers.
#[derive(Debug, Default)]
pub(crate) struct H2Conn {
    /// Bytes of the socket (and of every socket it was re-opened as).
    io: Arc<SubIo>,
    live: Mutex<Option<Live>>,
}

#[derive(Debug)]
struct Live {
    tx: SendRequest<Empty<Bytes>>,
    task: JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl H2Conn {
    /// A handle for one more stream: the open connection, or a new one if
    /// there is none or it has closed.
    async fn sender(
        &self,
        addr: SocketAddr,
        tls: Option<&TlsTarget>,
        timeout: Duration,
    ) -> Result<SendRequest<Empty<Bytes>>, Kind> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref() {
            if !l.tx.is_closed() {
                return Ok(l.tx.clone());
            }
        }
        *live = None;
        let stream = connect_counted(addr, tls, timeout, &self.io).await?;
        if tls.is_some() && stream.alpn() != Some(b"h2") {
            return Err(Kind::Borrowed("no_h2"));
        }
        let handshake = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream));
        let (tx, conn) = match tokio::time::timeout(timeout, handshake).await {
            Err(_) => return Err(Kind::Borrowed("timeout")),
            Ok(r) => r.map_err(|e| error_kind(&e))?,
        };
        let task = tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "http/2 connection ended");
            }
        });
        *live = Some(Live {
            tx: tx.clone(),
            task,
        });
        Ok(tx)
    }
}

/// A subscriber's way to send requests: its own HTTP/1.1 connection, or
/// streams of a shared HTTP/2 connection.
pub(crate) enum SubConn {
    /// One keep-alive HTTP/1.1 connection.
    H1(HttpConn),
    /// Streams on a shared HTTP/2 connection (`--http2`), and the
    /// `:scheme` of their requests.
    H2(SendRequest<Empty<Bytes>>, &'static str),
}

impl SubConn {
    /// Connects over HTTP/1.1 (`h2: None`) or takes a stream handle of the
    /// subscriber's HTTP/2 connection.
    pub async fn connect(
        h2: Option<&H2Conn>,
        addr: SocketAddr,
        tls: Option<&TlsTarget>,
        timeout: Duration,
        io: &Arc<SubIo>,
    ) -> Result<SubConn, Kind> {
        match h2 {
            None => HttpConn::connect(addr, tls, timeout, io)
                .await
                .map(SubConn::H1),
            Some(conn) => {
                let scheme = if tls.is_some() { "https" } else { "http" };
                let tx = conn.sender(addr, tls, timeout).await?;
                Ok(SubConn::H2(tx, scheme))
            }
        }
    }

    /// Sends a request and waits for the answer's head, within `timeout`.
    pub async fn send(
        &mut self,
        req: Request<Empty<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, Kind> {
        let (tx, scheme) = match self {
            SubConn::H1(c) => return c.send(req, timeout).await,
            SubConn::H2(tx, scheme) => (tx, *scheme),
        };
        let req = for_h2(req, scheme)?;
        let fut = async {
            tx.ready().await.map_err(|e| error_kind(&e))?;
            tx.send_request(req).await.map_err(|e| error_kind(&e))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Kind::Borrowed("timeout")),
        }
    }

    /// Sends a request and reads the whole answer (at most `max_body`
    /// bytes, decoded if it came compressed), all within `timeout`.
    pub async fn fetch(
        &mut self,
        req: Request<Empty<Bytes>>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<(http::response::Parts, Bytes), Kind> {
        if let SubConn::H1(c) = self {
            return c.fetch(req, timeout, max_body).await;
        }
        let fut = async { read_answer(self.send(req, timeout).await?, max_body).await };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Kind::Borrowed("timeout")),
        }
    }
}

/// An HTTP/1-shaped request (path-only URI, `Host` header) made into what a
/// browser sends over HTTP/2: `:scheme` and `:authority` from the URI, no
/// `Host` header (RFC 9113 §8.3.1).
fn for_h2(req: Request<Empty<Bytes>>, scheme: &str) -> Result<Request<Empty<Bytes>>, Kind> {
    let (mut parts, body) = req.into_parts();
    let host = parts
        .headers
        .remove(header::HOST)
        .ok_or(Kind::Borrowed("protocol"))?;
    let host = host.to_str().map_err(|_| Kind::Borrowed("protocol"))?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = Uri::builder()
        .scheme(scheme)
        .authority(host)
        .path_and_query(path)
        .build()
        .map_err(|_| Kind::Borrowed("protocol"))?;
    parts.version = http::Version::HTTP_2;
    Ok(Request::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn subscribers_are_grouped_n_to_a_connection() {
        let pool = H2Pool::new(250, 100);
        assert_eq!(pool.ios().count(), 3);
        assert!(Arc::ptr_eq(&pool.conn(0), &pool.conn(99)));
        assert!(!Arc::ptr_eq(&pool.conn(99), &pool.conn(100)));
        assert!(Arc::ptr_eq(&pool.conn(200), &pool.conn(249)));
    }

    #[test]
    fn requests_lose_host_for_authority() {
        let req = crate::proto::http::get("127.0.0.1:8080", "/messages?since=3")
            .body(Empty::new())
            .unwrap();
        let req = for_h2(req, "http").unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:8080/messages?since=3"
        );
        assert!(req.headers().get(header::HOST).is_none());
    }

    const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const COOKIE: &str = "session=0123456789abcdef0123456789abcdef";

    /// The proof that HTTP/2 bytes are counted at the socket, not by a
    /// formula: the same poll sent twice costs fewer bytes the second time,
    /// both ways, because HPACK's dynamic tables (the client's for the
    /// request headers, the server's for the answer's) now hold its header
    /// fields; and what the connection counted equals, byte for byte, what
    /// pushpoll's server counted at its end of the socket.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hpack_makes_repeated_polls_cheaper_and_counts_match_the_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(pushpoll_server::run(
            listener,
            pushpoll_server::Config::default(),
            async move {
                let _ = stop_rx.await;
            },
        ));
        let pool = H2Pool::new(1, 1);
        let conn = pool.conn(0);
        let io = Arc::new(SubIo::default());
        let timeout = Duration::from_secs(10);
        let mut sub = SubConn::connect(Some(&conn), addr, None, timeout, &io)
            .await
            .unwrap();
        let poll = || {
            crate::proto::http::get(&addr.to_string(), "/messages?since=0")
                .header(header::USER_AGENT, UA)
                .header(header::ACCEPT, "application/json")
                .header(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9")
                .header(header::COOKIE, COOKIE)
                .body(Empty::new())
                .unwrap()
        };
        let bytes = || (conn.io.up.load(Relaxed), conn.io.down.load(Relaxed));
        // The connection's preface and SETTINGS go with a first poll that
        // shares no header with the ones below but `:method`, `:scheme` and
        // `:authority` (and makes the server count this socket's bytes as
        // short polling's).
        let warm = crate::proto::http::get(&addr.to_string(), "/messages")
            .body(Empty::new())
            .unwrap();
        sub.fetch(warm, timeout, 1024).await.unwrap();
        let mut costs = Vec::new();
        for _ in 0..3 {
            let before = bytes();
            let (head, body) = sub.fetch(poll(), timeout, 1 << 20).await.unwrap();
            assert_eq!(head.status, 200, "{body:?}");
            assert_eq!(head.version, http::Version::HTTP_2);
            let after = bytes();
            costs.push((after.0 - before.0, after.1 - before.1));
        }
        let (first, second, third) = (costs[0], costs[1], costs[2]);
        // The first poll sends the user agent as a literal (into the
        // table); later ones send a one-byte index. A Huffman-coded literal
        // takes at least 5 bits a character. (The h2 crate never indexes
        // `cookie` or `:path`: those go as literals every time.)
        let ua_literal = (UA.len() * 5 / 8) as u64;
        assert!(first.0 >= second.0 + ua_literal, "request bytes {costs:?}");
        // The answers are alike (the server's table took their
        // `content-type` and `cache-control` with the first poll's).
        assert_eq!(first.1, second.1, "answer bytes {costs:?}");
        assert_eq!(second, third, "{costs:?}");
        assert_eq!(io.up.load(Relaxed), 0, "nothing is counted per subscriber");

        // What the server counted on its side of this one socket.
        let counted = bytes();
        let mut seen = (0, 0);
        for _ in 0..200 {
            seen = server_counts(addr, "short_poll").await;
            if seen == counted {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            seen, counted,
            "server (received, sent) vs generator (up, down)"
        );
        drop((sub, conn, pool));
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
    }

    /// `pushpoll_bytes_received_total` and `pushpoll_bytes_sent_total` of
    /// one transport, read over a separate HTTP/1.1 connection (its bytes
    /// go to `other`).
    async fn server_counts(addr: SocketAddr, transport: &str) -> (u64, u64) {
        let io = Arc::new(SubIo::default());
        let mut c: HttpConn = HttpConn::connect(addr, None, Duration::from_secs(5), &io)
            .await
            .unwrap();
        let req = crate::proto::http::get(&addr.to_string(), "/metrics")
            .body(Empty::new())
            .unwrap();
        let (_, body) = c.fetch(req, Duration::from_secs(5), 1 << 20).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let get = |name: &str| -> u64 {
            pushpoll_wire::prometheus::labelled(&text, name, &[("transport", transport)])
                .unwrap_or(0.0) as u64
        };
        (
            get("pushpoll_bytes_received_total"),
            get("pushpoll_bytes_sent_total"),
        )
    }
}
