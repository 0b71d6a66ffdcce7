//! The accept loop: the connection limit (a `503` past it), readying each
//! socket (its state, its byte counting, the TLS handshake), and shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use pushpoll_netio::{Counted, MaybeTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use super::socket::serve_socket;
use crate::connection::SocketBytes;
use crate::connection::{ConnState, PendingUpgrade};
use crate::metrics::Transport;
use crate::transport::ws;
use crate::{http2, Shared};

/// An accepted socket, counted into the server's metrics.
type Socket = Counted<TcpStream, SocketBytes>;

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
                // Not through `Shared::spawn`: the task waits for the abort
                // itself, in the `select!` it has anyway (a wrapper would
                // keep another copy of the arguments, about 100 bytes per
                // idle connection).
                shared
                    .tasks
                    .spawn(connection(stream, peer, Arc::clone(&shared), permit));
            }
            Err(_) => match Arc::clone(&rejections).try_acquire_owned() {
                Ok(permit) => {
                    debug!(%peer, "connection limit reached: answering 503");
                    let s = Arc::clone(&shared);
                    shared.spawn(move || reject(stream, peer, s, permit));
                }
                Err(_) => debug!(%peer, "connection limit reached: dropping"),
            },
        }
    }
    drop(listener);
    info!("shutting down: no longer accepting");
    shared.shutdown.raise();
    shared.ws_outlets.shut_down();
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
        shared.abort.raise();
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
    let alpn = match io.alpn() {
        None => None,
        Some(b"h2") => Some(http2::Protocol::Http2),
        Some(_) => Some(http2::Protocol::Http1),
    };
    // Each phase boxed, and freed when it ends, so that this task (which
    // lives as long as the socket) keeps room for neither: a WebSocket does
    // not carry the sniffing and HTTP state before its upgrade (about 2 KiB),
    // a held poll no room for a WebSocket session. (Boxed before the block
    // below, which would otherwise keep room for `io` too.)
    let http = Box::pin(serve_socket(io, alpn, &shared, &conn));
    let serve = async {
        http.await;
        if let Some(PendingUpgrade {
            on_upgrade,
            sub,
            v1,
        }) = conn.take_upgrade()
        {
            Box::pin(ws::session(on_upgrade, sub, v1, &shared, &conn)).await;
        }
    };
    tokio::select! {
        () = serve => {}
        () = conn.killed() => debug!(%peer, "connection dropped"),
        () = shared.abort.raised() => debug!(%peer, "shutdown grace over: connection dropped"),
    }
}

/// Readies an accepted socket: its state, its byte counting and, on a TLS
/// server, the handshake. `None` when the handshake fails or the server
/// stops first.
async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Option<(MaybeTls<Socket>, Arc<ConnState>)> {
    debug!(%peer, "connection accepted");
    // Latency matters more than packet count here: frames go out at once.
    let _ = stream.set_nodelay(true);
    let plain_fd = shared.tls.is_none().then(|| stream.as_raw_fd());
    let conn = Arc::new(ConnState::new(peer, plain_fd));
    let io = Counted::new(
        stream,
        SocketBytes::new(Arc::clone(shared), Arc::clone(&conn)),
    );
    // TLS sits on the counting socket: TLS records are counted as sent.
    let Some(tls) = &shared.tls else {
        return Some((MaybeTls::Plain(io), conn));
    };
    let accepted = tokio::select! {
        r = tls.accept(io, shared.limits.header_read_timeout) => r,
        () = shared.shutdown.raised() => return None,
    };
    match accepted {
        Ok(s) => Some((MaybeTls::from(s), conn)),
        Err(e) => {
            shared.metrics.tls_handshake_failed();
            debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
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
    let conn = Arc::new(ConnState::new(peer, None));
    conn.attribution.begin(Transport::Other, &shared.metrics);
    shared.metrics.requests.add(Transport::Other, 1);
    let _ = stream.set_nodelay(true);
    let io = Counted::new(stream, SocketBytes::new(Arc::clone(&shared), conn));
    let answer = async {
        // A TLS client can read the answer only after a handshake (whose
        // cost is bounded: at most `max_pending_rejections` at once).
        let mut io = match &shared.tls {
            None => MaybeTls::Plain(io),
            Some(tls) => match tls.accept(io, shared.limits.close_timeout).await {
                Ok(s) => MaybeTls::from(s),
                Err(e) => {
                    shared.metrics.tls_handshake_failed();
                    return Err(e);
                }
            },
        };
        if io.alpn() == Some(b"h2") {
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
