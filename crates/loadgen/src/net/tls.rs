//! TLS for `wss://` and `https://` targets, through rustls with the `ring`
//! provider (no C toolchain beyond `cc`, no aws-lc build).
//!
//! TLS sits *between* the byte-counting socket and the protocol: a
//! subscriber's stream is `MaybeTls<Counted<TcpStream>>`, so the bytes
//! counted are the bytes on the wire, TLS records, handshakes and alerts
//! included, and a TLS run's bytes per delivered message show what
//! encryption costs on top of the transport.
//!
//! The stream itself, plain or TLS, is [`pushpoll_netio::MaybeTls`], shared
//! with the server.
//!
//! What the client trusts is configuration: [`crate::config::trust`].
//!
//! A handshake that fails is an error *kind* like a refused connection:
//! `tls_unknown_issuer`, `tls_name_mismatch`, `tls_expired`,
//! `tls_bad_certificate`, `tls_alert_<description>`, `tls_protocol`, or
//! the I/O kind of a socket that died during it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use pushpoll_netio::{Counted, MaybeTls};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::config::trust::{TlsClient, TlsTarget};
use crate::core::error::{io_kind, Kind};
use crate::net::count::PubIo;

/// The handshakes: in this layer, beside the sockets they run on (the
/// configuration itself is [`crate::config::trust`]).
impl TlsClient {
    /// Runs the client handshake on `stream` within `timeout`, naming the
    /// server `name` (SNI, and what its certificate must be valid for).
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        name: &ServerName<'static>,
        stream: S,
        timeout: Duration,
    ) -> Result<TlsStream<S>, Kind> {
        match tokio::time::timeout(timeout, self.connector.connect(name.clone(), stream)).await {
            Err(_) => Err(Kind::Borrowed("tls_timeout")),
            Ok(Err(e)) => Err(handshake_kind(&e)),
            Ok(Ok(s)) => Ok(s),
        }
    }
}

impl TlsTarget {
    /// Wraps `stream` in TLS.
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        timeout: Duration,
    ) -> Result<MaybeTls<S>, Kind> {
        let tls = self.client.connect(&self.name, stream, timeout).await?;
        Ok(MaybeTls::from(tls))
    }
}

/// Wraps `stream` in TLS when `tls` says so.
pub(crate) async fn wrap<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tls: Option<&TlsTarget>,
    timeout: Duration,
) -> Result<MaybeTls<S>, Kind> {
    match tls {
        None => Ok(MaybeTls::Plain(stream)),
        Some(t) => t.connect(stream, timeout).await,
    }
}

/// The error kind of a failed handshake (`io_kind` finds rustls' errors
/// inside I/O errors, named by [`pushpoll_netio::tls::rustls_kind`]).
pub(crate) fn handshake_kind(e: &io::Error) -> Kind {
    io_kind(e)
}

/// Whether a kind is a TLS handshake failure.
pub(crate) fn is_tls_kind(kind: &str) -> bool {
    kind.starts_with("tls_")
}

/// What to tell a user whose run cannot start because of `kind`.
pub(crate) fn advice(kind: &str) -> &'static str {
    match kind {
        "tls_unknown_issuer" => "the server's certificate is not signed by a trusted root (self-signed or a private CA?): trust it with --ca-cert FILE (its CA's PEM certificate), or skip the check with --insecure (test servers only)",
        "tls_name_mismatch" => "the server's certificate is not valid for the URL's host: use a host name the certificate names, or --insecure (test servers only)",
        "tls_expired" | "tls_not_valid_yet" => "the server's certificate is outside its validity period (or this machine's clock is off): renew it, or --insecure (test servers only)",
        "tls_bad_certificate" => "the server's certificate was refused: check it, trust its CA with --ca-cert, or --insecure (test servers only); a self-signed certificate from `openssl req -x509` is a CA certificate unless made with -addext basicConstraints=critical,CA:FALSE, and cannot then be a server's own",
        "tls_protocol" => "the server did not complete a TLS handshake: does it speak TLS on this port (use ws:// or http:// for a plain server)?",
        _ => "check that the server speaks TLS on this port and that its certificate is one this client can trust (--ca-cert, --insecure)",
    }
}

/// hyper-util's connector for the `POST` publishers and the metrics scrape:
/// TCP (no Nagle, bounded connect), counted below TLS, then TLS for
/// `https://` URIs.
#[derive(Clone)]
pub(crate) struct Connector {
    http: HttpConnector,
    tls: Option<TlsTarget>,
    timeout: Duration,
    /// Where the sockets' bytes are counted (the publishers'; a scrape's
    /// go to a counter nobody reads).
    io: Arc<PubIo>,
}

impl Connector {
    /// A connector for `target`'s URIs (TLS when it is `https://`).
    pub fn new(tls: Option<&TlsTarget>, timeout: Duration) -> Connector {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        // https:// URIs are ours to wrap.
        http.enforce_http(false);
        Connector {
            http,
            tls: tls.cloned(),
            timeout,
            io: Arc::default(),
        }
    }

    /// The same, counting its sockets into `io`.
    pub fn counting(self, io: Arc<PubIo>) -> Connector {
        Connector { io, ..self }
    }
}

/// A connector's stream: counted below TLS, like a subscriber's.
pub(crate) type PubStream = MaybeTls<Counted<TcpStream, Arc<PubIo>>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<PubStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = match uri.scheme_str() {
            Some("https") => self.tls.clone(),
            _ => None,
        };
        let https_without_tls = uri.scheme_str() == Some("https") && tls.is_none();
        let timeout = self.timeout;
        let io = self.io.clone();
        let connecting = self.http.call(uri);
        Box::pin(async move {
            if https_without_tls {
                return Err(io::Error::other("an https:// URI without TLS settings").into());
            }
            let tcp = Counted::new(connecting.await?.into_inner(), io);
            let Some(t) = tls else {
                return Ok(TokioIo::new(MaybeTls::Plain(tcp)));
            };
            // The rustls error stays inside the I/O error, where `io_kind`
            // finds it.
            match tokio::time::timeout(timeout, t.client.connector.connect(t.name.clone(), tcp))
                .await
            {
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake").into()),
                Ok(Err(e)) => Err(e.into()),
                Ok(Ok(s)) => Ok(TokioIo::new(MaybeTls::from(s))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_name_the_reason() {
        let wrapped = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
        );
        assert_eq!(handshake_kind(&wrapped), "tls_name_mismatch");
        assert_eq!(
            handshake_kind(&io::Error::from(io::ErrorKind::ConnectionReset)),
            "reset"
        );
    }
}
