//! A minimal HTTP/1.1 client for subscribers: one keep-alive connection over
//! a counted socket (hyper's low-level `client::conn`), so every byte of every
//! request and answer is counted and the connection is exactly the one a
//! browser's poll loop would hold.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use crate::config::trust::TlsTarget;
use crate::core::error::{error_kind, Kind};
use crate::net::connect::connect_counted;
use crate::net::count::SubIo;
use crate::proto::decode::{decode_body, Coding};

/// The `User-Agent` every generator request carries.
pub(crate) const USER_AGENT: &str = "pushpoll-loadgen";

/// One HTTP/1.1 connection sending bodies of type `B`. Dropping it closes
/// the socket.
pub(crate) struct HttpConn<B = Empty<Bytes>> {
    tx: SendRequest<B>,
    task: JoinHandle<()>,
}

impl<B> Drop for HttpConn<B> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A GET request with its `Host`; the rest comes from the header profile
/// ([`Plan::request_headers`](crate::config::plan::Plan::request_headers)).
pub(crate) fn get(authority: &str, path_and_query: &str) -> http::request::Builder {
    Request::get(path_and_query).header(header::HOST, authority)
}

/// The kind of a body-reading error (the size limit included).
pub(crate) fn body_error_kind(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Kind {
    if e.is::<LengthLimitError>() {
        Kind::Borrowed("body_too_large")
    } else {
        error_kind(e)
    }
}

impl<B> HttpConn<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Connects (with TLS when `tls` says so) and performs the (local)
    /// HTTP/1 handshake.
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<&TlsTarget>,
        timeout: Duration,
        io: &Arc<SubIo>,
    ) -> Result<HttpConn<B>, Kind> {
        let stream = connect_counted(addr, tls, timeout, io).await?;
        let (tx, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| error_kind(&e))?;
        let task = tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "subscriber connection ended");
            }
        });
        Ok(HttpConn { tx, task })
    }

    /// Whether the server closed the connection (after an answer with
    /// `Connection: close`, say): the next request needs a new one.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Sends a request and waits for the answer's head, within `timeout`.
    pub async fn send(
        &mut self,
        req: Request<B>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, Kind> {
        let fut = async {
            self.tx.ready().await.map_err(|e| error_kind(&e))?;
            self.tx.send_request(req).await.map_err(|e| error_kind(&e))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Kind::Borrowed("timeout")),
        }
    }

    /// Sends a request and reads the whole answer (at most `max_body` bytes,
    /// decoded if it came compressed), all within `timeout`. The head comes back whole, for headers such as
    /// `Retry-After`.
    pub async fn fetch(
        &mut self,
        req: Request<B>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<(http::response::Parts, Bytes), Kind> {
        let fut = async {
            self.tx.ready().await.map_err(|e| error_kind(&e))?;
            let resp = self
                .tx
                .send_request(req)
                .await
                .map_err(|e| error_kind(&e))?;
            read_answer(resp, max_body).await
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Kind::Borrowed("timeout")),
        }
    }
}

/// Reads an answer's whole body (at most `max_body` bytes) and decodes it if
/// it came compressed: counted compressed at the socket, handed on decoded.
/// HTTP/1.1 and HTTP/2 answers alike.
pub(crate) async fn read_answer(
    resp: Response<Incoming>,
    max_body: usize,
) -> Result<(http::response::Parts, Bytes), Kind> {
    let (head, body) = resp.into_parts();
    let body = Limited::new(body, max_body)
        .collect()
        .await
        .map_err(|e| body_error_kind(&*e))?
        .to_bytes();
    let body = decode_body(Coding::of(&head.headers)?, body, max_body)?;
    Ok((head, body))
}
