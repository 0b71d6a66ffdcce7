//! Sockets: the accept loop, the connection limit, the byte-counting stream,
//! hyper's HTTP/1 settings, and shutdown.
//!
//! One task per accepted socket serves HTTP/1 on it with hyper and, when the
//! socket is upgraded, runs the WebSocket session in the same task, so the
//! connection permit covers the socket's whole life whatever it carries. A
//! socket that opens with the HTTP/2 preface is served HTTP/2 instead
//! ([`http2`]), still one permit per socket.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Limits;
use crate::metrics::{Metrics, Transport};
use crate::tls::MaybeTls;
use crate::transport::ws;
use crate::{http2, router, Shared};

/// Marks "not attributed to a transport yet" in [`Attribution`].
const PENDING: u8 = u8::MAX;

/// Which transport the bytes of a connection belong to, request by request.
///
/// HTTP/1 without pipelining makes this exact: a request's head is read
/// before the router sees it (those bytes wait in `pending_read` until
/// [`begin`](Self::begin) names the transport), its body is read while the
/// handler runs, and its response is written before the next request is
/// read. [`finish`](Self::finish) sends later reads back to pending, for the
/// next request. A WebSocket upgrade makes the attribution sticky: every byte
/// of the socket, handshake included, counts as `ws`. (Pipelined requests,
/// which browsers do not send, may have their head counted with the request
/// before them.)
#[derive(Debug)]
pub(crate) struct Attribution {
    read_to: AtomicU8,
    write_to: AtomicU8,
    sticky: AtomicBool,
    pending_read: AtomicU64,
    pending_written: AtomicU64,
}

impl Attribution {
    fn new() -> Self {
        Attribution {
            read_to: AtomicU8::new(PENDING),
            write_to: AtomicU8::new(PENDING),
            sticky: AtomicBool::new(false),
            pending_read: AtomicU64::new(0),
            pending_written: AtomicU64::new(0),
        }
    }

    /// A request for `t` arrived: its head (already read) and everything
    /// until [`finish`](Self::finish) is `t`'s.
    pub(crate) fn begin(&self, t: Transport, metrics: &Metrics) {
        if self.sticky.load(Relaxed) {
            return;
        }
        self.read_to.store(t as u8, Relaxed);
        self.write_to.store(t as u8, Relaxed);
        metrics
            .bytes_received
            .add(t, self.pending_read.swap(0, Relaxed));
        metrics
            .bytes_sent
            .add(t, self.pending_written.swap(0, Relaxed));
    }

    /// The handler is done reading this request; what is read next belongs
    /// to the next request. Writes stay with this one (its body may still be
    /// streaming).
    pub(crate) fn finish(&self) {
        if !self.sticky.load(Relaxed) {
            self.read_to.store(PENDING, Relaxed);
        }
    }

    /// Everything from now on is the current transport's (a WebSocket).
    pub(crate) fn make_sticky(&self) {
        self.sticky.store(true, Relaxed);
    }

    fn count(
        &self,
        to: &AtomicU8,
        pending: &AtomicU64,
        counts: &crate::metrics::PerTransport,
        n: u64,
    ) {
        match Transport::from_index(to.load(Relaxed)) {
            Some(t) => counts.add(t, n),
            None => {
                pending.fetch_add(n, Relaxed);
            }
        }
    }

    /// The socket is gone: bytes never claimed by a request go to the last
    /// transport it served, or `other`.
    fn settle(&self, metrics: &Metrics) {
        let t = Transport::from_index(self.write_to.load(Relaxed)).unwrap_or(Transport::Other);
        metrics
            .bytes_received
            .add(t, self.pending_read.swap(0, Relaxed));
        metrics
            .bytes_sent
            .add(t, self.pending_written.swap(0, Relaxed));
    }
}

/// What one socket's task shares with the router and its handlers.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub(crate) peer: SocketAddr,
    pub(crate) attribution: Attribution,
    /// Set by the WebSocket handshake; the connection task runs the session
    /// once hyper has written the `101`.
    upgrade: Mutex<Option<ws::Pending>>,
    /// Ends the connection at once (a peer that will not take its last words).
    kill: Notify,
    /// Cancelled when the server shuts down: this connection's child of
    /// `Shared::shutdown`, which its handlers and sessions wait on.
    pub(crate) stop: CancellationToken,
}

impl ConnState {
    fn new(peer: SocketAddr, shared: &Shared) -> Self {
        ConnState {
            peer,
            attribution: Attribution::new(),
            upgrade: Mutex::new(None),
            kill: Notify::new(),
            stop: shared.shutdown.child_token(),
        }
    }

    pub(crate) fn set_upgrade(&self, pending: ws::Pending) {
        *self.upgrade.lock().unwrap_or_else(|e| e.into_inner()) = Some(pending);
    }

    fn take_upgrade(&self) -> Option<ws::Pending> {
        self.upgrade
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Drops the socket without further ado.
    pub(crate) fn kill(&self) {
        self.kill.notify_one();
    }
}

/// The accepted socket, counting every byte read and written into the
/// server's metrics, under the transport the [`Attribution`] names.
pub(crate) struct CountingStream<S> {
    inner: S,
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
}

impl<S> CountingStream<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, conn: Arc<ConnState>) -> Self {
        CountingStream {
            inner,
            shared,
            conn,
        }
    }
}

impl<S> Drop for CountingStream<S> {
    fn drop(&mut self) {
        self.conn.attribution.settle(&self.shared.metrics);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            let a = &this.conn.attribution;
            a.count(
                &a.read_to,
                &a.pending_read,
                &this.shared.metrics.bytes_received,
                n,
            );
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.counted_write(n);
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            this.counted_write(n);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S> CountingStream<S> {
    fn counted_write(&self, n: usize) {
        if n > 0 {
            let a = &self.conn.attribution;
            a.count(
                &a.write_to,
                &a.pending_written,
                &self.shared.metrics.bytes_sent,
                n as u64,
            );
        }
    }
}

/// Sets the listen queue of an already listening socket to `backlog`
/// ([`Limits::listen_backlog`]): calling `listen` again on a listening
/// socket changes only its queue length (Linux, the BSDs), so the caller
/// may bind however it likes. The kernel silently caps it at
/// `net.core.somaxconn`; a request above that is logged.
pub(crate) fn set_backlog(listener: &TcpListener, backlog: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd as _;
        let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
        // SAFETY: `listen` on a descriptor we borrow; it touches no memory.
        if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<libc::c_int>().ok());
        if let Some(cap) = cap.filter(|cap| *cap < backlog) {
            warn!(
                backlog,
                somaxconn = cap,
                "the kernel caps the listen backlog at net.core.somaxconn"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (listener, backlog);
    Ok(())
}

/// hyper's HTTP/1 settings, derived from the limits.
///
/// The limits on header bytes and count are checked by the router, which can
/// answer with a JSON body; hyper's own parser limits are set to twice those
/// (with some slack), as the hard stop for requests too big to parse.
pub(crate) fn http1_builder(limits: &Limits) -> http1::Builder {
    let mut b = http1::Builder::new();
    let hard_header_bytes = limits
        .max_header_bytes
        .saturating_mul(2)
        .max(limits.max_header_bytes.saturating_add(8 * 1024));
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(hard_header_bytes)
        .max_buf_size(hard_header_bytes.saturating_add(1024).max(8192))
        .keep_alive(true);
    // hyper keeps up to 100 headers on the stack; ask for more only if needed.
    let hard_headers = limits.max_headers.saturating_mul(2);
    if hard_headers > 100 {
        b.max_headers(hard_headers);
    }
    b
}

/// Accepts until `shutdown` resolves, then winds every connection down and
/// waits for them, at most `shutdown_grace`.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = &shared.limits;
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let rejections = Arc::new(Semaphore::new(limits.max_pending_rejections));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin; the error is the kernel's, not a client's.
                    warn!(error = %e, "accept failed");
                    if !matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                let s = Arc::clone(&shared);
                shared.spawn(connection(stream, peer, s, permit));
            }
            Err(_) => match Arc::clone(&rejections).try_acquire_owned() {
                Ok(permit) => {
                    debug!(%peer, "connection limit reached: answering 503");
                    let s = Arc::clone(&shared);
                    shared.spawn(reject(stream, peer, s, permit));
                }
                Err(_) => debug!(%peer, "connection limit reached: dropping"),
            },
        }
    }
    drop(listener);
    info!("shutting down: no longer accepting");
    shared.shutdown.cancel();
    shared.tasks.close();
    let grace = shared.limits.shutdown_grace;
    if tokio::time::timeout(grace, shared.tasks.wait())
        .await
        .is_err()
    {
        warn!(
            remaining = shared.tasks.len(),
            "shutdown grace over: dropping the connections left"
        );
        shared.abort.cancel();
        shared.tasks.wait().await;
    }
    info!("shut down");
}

/// Serves one socket: HTTP/2 if it opens with the HTTP/2 preface;
/// otherwise HTTP/1 with hyper, then the WebSocket session if the socket was
/// upgraded.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
) {
    // Boxed, and freed once the socket is ready: the task itself keeps room
    // only for serving it (memory per idle connection).
    let Some((io, conn)) = Box::pin(accept(stream, peer, &shared)).await else {
        return;
    };
    // Under TLS the client said in ALPN which protocol it speaks.
    let alpn = match io.alpn_protocol() {
        None => None,
        Some(b"h2") => Some(http2::Protocol::Http2),
        Some(_) => Some(http2::Protocol::Http1),
    };
    tokio::select! {
        () = serve_socket(io, alpn, &shared, &conn) => {}
        () = conn.kill.notified() => debug!(%peer, "connection dropped"),
    }
}

/// Readies an accepted socket: its state, its byte counting and, on a TLS
/// server, the handshake. `None` when the handshake fails or the server
/// stops first.
async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Option<(MaybeTls<CountingStream<TcpStream>>, Arc<ConnState>)> {
    debug!(%peer, "connection accepted");
    // Latency matters more than packet count here: frames go out at once.
    let _ = stream.set_nodelay(true);
    let conn = Arc::new(ConnState::new(peer, shared));
    let io = CountingStream::new(stream, Arc::clone(shared), Arc::clone(&conn));
    // TLS sits on the counting socket: TLS records are counted as sent.
    let Some(tls) = &shared.tls else {
        return Some((MaybeTls::Plain(io), conn));
    };
    let accepted = tokio::select! {
        r = tls.accept(io, shared.limits.header_read_timeout) => r,
        () = conn.stop.cancelled() => return None,
    };
    match accepted {
        Ok(s) => Some((MaybeTls::Tls(Box::new(s)), conn)),
        Err(e) => {
            shared.metrics.tls_handshake_failed();
            debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
    }
}

/// Serves the socket in the protocol ALPN chose (`alpn`) or, without ALPN,
/// the one its first bytes announce (they must come within
/// `header_read_timeout`). After ALPN `h2` the first bytes must be the
/// HTTP/2 preface, read within the same time.
async fn serve_socket<S>(
    mut io: S,
    alpn: Option<http2::Protocol>,
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = conn.peer;
    if alpn == Some(http2::Protocol::Http1) {
        return serve_http1(io, shared, conn).await;
    }
    let sniffed = tokio::select! {
        r = tokio::time::timeout(shared.limits.header_read_timeout, http2::sniff(&mut io)) => r,
        () = conn.stop.cancelled() => return,
    };
    let (protocol, sniffed) = match sniffed {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "connection failed before its first request");
            return;
        }
        Err(_) => {
            debug!(%peer, "nothing sent within header_read_timeout: closing");
            return;
        }
    };
    if alpn.is_some_and(|a| a != protocol) {
        debug!(%peer, "ALPN chose h2 but the client sent no HTTP/2 preface: closing");
        return;
    }
    let io = http2::Rewind::new(sniffed, io);
    match protocol {
        // Boxed, as each phase below: freed when it ends (see `serve_http1`).
        http2::Protocol::Http2 => Box::pin(serve_http2(io, shared, conn)).await,
        http2::Protocol::Http1 => serve_http1(io, shared, conn).await,
    }
}

/// HTTP/1 on one socket, then the WebSocket session if it was upgraded.
async fn serve_http1<S>(io: S, shared: &Arc<Shared>, conn: &Arc<ConnState>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = conn.peer;
    let service = {
        let (shared, conn) = (Arc::clone(shared), Arc::clone(conn));
        service_fn(move |req| {
            let (shared, conn) = (Arc::clone(&shared), Arc::clone(&conn));
            let answer = router::route(req, &shared, &conn);
            async move { Ok::<_, Infallible>(answer.finish(&shared, &conn).await) }
        })
    };
    // The HTTP phase and the WebSocket session are boxed, each freed when it
    // ends, so this task itself stays small: a held long poll or SSE stream
    // does not carry room for a WebSocket session, and a WebSocket does not
    // keep the room hyper's connection took (memory per idle connection).
    let result = Box::pin(async {
        let http = shared
            .http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(http);
        tokio::select! {
            r = &mut http => r,
            () = conn.stop.cancelled() => {
                http.as_mut().graceful_shutdown();
                (&mut http).await
            }
        }
    })
    .await;
    if let Err(e) = result {
        debug!(%peer, error = %e, "http connection ended with an error");
    }
    if let Some(pending) = conn.take_upgrade() {
        Box::pin(ws::session(pending, shared, conn)).await;
    }
}

/// HTTP/2 on one socket: every stream is routed as an HTTP/1 request is,
/// and the socket's bytes go to the latest request's transport (see
/// [`http2`]). GOAWAY on shutdown, or once no stream has been open for
/// `header_read_timeout`.
async fn serve_http2<S>(io: S, shared: &Arc<Shared>, conn: &Arc<ConnState>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let streams = Arc::new(http2::Streams::default());
    let service = {
        let (shared, conn, streams) = (Arc::clone(shared), Arc::clone(conn), Arc::clone(&streams));
        service_fn(move |req| {
            let guard = streams.begin();
            let (shared, conn) = (Arc::clone(&shared), Arc::clone(&conn));
            // Bytes go to the latest request's transport: streams
            // interleave on the socket, so no split is exact.
            let answer = router::route(req, &shared, &conn);
            async move {
                let resp = answer.finish(&shared, &conn).await;
                Ok::<_, Infallible>(http2::stream_response(resp, guard))
            }
        })
    };
    let h2 = shared.http2.serve_connection(TokioIo::new(io), service);
    let idle = streams.idle_for(shared.limits.header_read_timeout);
    // After GOAWAY, h2 waits for the client's PING ack before it closes; a
    // client that never sends one is dropped after `close_timeout`.
    let closed_by = tokio::time::sleep(Duration::MAX);
    tokio::pin!(h2, idle, closed_by);
    let mut closing = false;
    let result = loop {
        tokio::select! {
            r = &mut h2 => break r,
            () = conn.stop.cancelled(), if !closing => {
                closing = true;
                h2.as_mut().graceful_shutdown();
                closed_by
                    .as_mut()
                    .reset(tokio::time::Instant::now() + shared.limits.close_timeout);
            }
            () = &mut idle, if !closing => {
                debug!(peer = %conn.peer, "http/2 connection idle: GOAWAY");
                closing = true;
                h2.as_mut().graceful_shutdown();
                closed_by
                    .as_mut()
                    .reset(tokio::time::Instant::now() + shared.limits.close_timeout);
            }
            () = &mut closed_by, if closing => {
                debug!(peer = %conn.peer, "http/2 connection not closing: dropped");
                return;
            }
        }
    };
    if let Err(e) = result {
        debug!(peer = %conn.peer, error = %e, "http/2 connection ended with an error");
    }
}

/// Answers `503` on a socket over the connection limit, then closes it
/// gently (reading what the client sent, so the answer is not lost to a reset).
async fn reject(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
) {
    let body = serde_json::to_vec(&pushpoll_wire::poll::ErrorBody {
        error: format!(
            "the server is at its limit of {} connections: retry later",
            shared.limits.max_connections
        ),
        oldest_seq: None,
        last_seq: None,
    })
    .expect("serialising a struct of strings cannot fail");
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let conn = Arc::new(ConnState::new(peer, &shared));
    conn.attribution.begin(Transport::Other, &shared.metrics);
    shared.metrics.requests.add(Transport::Other, 1);
    let _ = stream.set_nodelay(true);
    let io = CountingStream::new(stream, Arc::clone(&shared), conn);
    let answer = async {
        // A TLS client can read the answer only after a handshake (whose
        // cost is bounded: at most `max_pending_rejections` at once).
        let mut io = match &shared.tls {
            None => MaybeTls::Plain(io),
            Some(tls) => match tls.accept(io, shared.limits.close_timeout).await {
                Ok(s) => MaybeTls::Tls(Box::new(s)),
                Err(e) => {
                    shared.metrics.tls_handshake_failed();
                    return Err(e);
                }
            },
        };
        if io.alpn_protocol() == Some(b"h2") {
            // An HTTP/2 client cannot read an HTTP/1.1 answer: the server's
            // SETTINGS, then GOAWAY refusing every stream, the reason as its
            // debug data. (A prior-knowledge client on the plain port still
            // gets the HTTP/1.1 answer: telling would take a read first.)
            io.write_all(&http2::refusal(&body)).await?;
        } else {
            io.write_all(head.as_bytes()).await?;
            io.write_all(&body).await?;
        }
        io.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left = 64 * 1024;
        while left > 0 {
            match io.read(&mut sink).await? {
                0 => break,
                n => left -= n.min(left),
            }
        }
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(shared.limits.close_timeout, answer).await;
}
