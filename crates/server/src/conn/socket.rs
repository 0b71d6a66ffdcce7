//! Serving one ready socket: hyper's HTTP/1 settings, the choice between
//! HTTP/1 and HTTP/2.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use super::held;
use crate::config::Limits;
use crate::connection::ConnState;
use crate::{http2, router, Shared};

/// hyper's HTTP/1 settings, derived from the limits.
///
/// The limits on header bytes and count are checked by the router, which can
/// answer with a JSON body; hyper's own parser limits are set to twice those
/// (with some slack), as the hard stop for requests too big to parse.
pub(crate) fn http1_builder(limits: &Limits) -> http1::Builder {
    let mut b = http1::Builder::new();
    let hard_header_bytes = limits.hard_header_bytes();
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

/// Serves the socket in the protocol ALPN chose (`alpn`) or, without ALPN,
/// the one its first bytes announce (they must come within
/// `header_read_timeout`). After ALPN `h2` the first bytes must be the
/// HTTP/2 preface, read within the same time.
pub(super) async fn serve_socket<S>(
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
        () = shared.shutdown.raised() => return,
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

/// HTTP/1 on one socket: polls and SSE streams by the held-request front
/// ([`held`]) while that is all the client asks for, then hyper (the caller
/// runs the WebSocket session after it, if the socket was upgraded).
async fn serve_http1<S>(io: S, shared: &Arc<Shared>, conn: &Arc<ConnState>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Boxed, as each phase: a connection in hyper's hands holds no room for
    // the front, and one held by the front none for hyper.
    match Box::pin(held::serve(io, shared, conn)).await {
        held::Handoff::Closed => {}
        held::Handoff::Hyper(io) => serve_hyper(io, shared, conn).await,
    }
}

/// hyper's HTTP/1 for the rest of a connection.
async fn serve_hyper<S>(io: S, shared: &Arc<Shared>, conn: &Arc<ConnState>)
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
    // Boxed, and freed when it ends: a held long poll or SSE stream does not
    // carry room for the sniffing before it (memory per idle connection).
    let result = Box::pin(async {
        let http = shared
            .http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(http);
        tokio::select! {
            r = &mut http => r,
            () = shared.shutdown.raised() => {
                http.as_mut().graceful_shutdown();
                (&mut http).await
            }
        }
    })
    .await;
    if let Err(e) = result {
        debug!(%peer, error = %e, "http connection ended with an error");
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
            () = shared.shutdown.raised(), if !closing => {
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
