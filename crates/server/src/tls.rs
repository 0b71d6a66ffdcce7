//! TLS for the server (`pushpoll serve --tls-cert --tls-key`): rustls with
//! the `ring` provider, between the byte-counting socket and HTTP.
//!
//! Every transport is served the same way over TLS: the handshake runs in
//! the connection's own task (so it holds a connection permit like any
//! socket), bounded by [`Limits::header_read_timeout`](crate::Limits),
//! and the bytes counted per transport are the bytes on the wire, TLS
//! records included. Failed handshakes are counted in
//! `pushpoll_tls_handshake_failures_total`.
//!
//! The ALPN protocols offered are a parameter ([`TlsConfig::from_pem`]): the
//! connection code reads the one negotiated
//! ([`MaybeTls::alpn`](pushpoll_netio::MaybeTls::alpn)) to choose how to
//! speak HTTP on the socket.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::ServerError;

/// ALPN protocols the server offers by default: HTTP/2 (polls and SSE;
/// browsers open WebSockets on connections that chose `http/1.1`), then
/// HTTP/1.1.
pub const DEFAULT_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// A certificate chain and key, ready to accept TLS connections.
///
/// Cheap to clone (the rustls configuration is shared).
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &self.config().alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), offering the `alpn` protocols in order of
    /// preference (usually [`DEFAULT_ALPN`]).
    pub fn from_pem_files(cert: &Path, key: &Path, alpn: &[&[u8]]) -> Result<Self, ServerError> {
        let read = |path: &Path, what: &'static str| {
            std::fs::read(path).map_err(|e| ServerError::Tls {
                what,
                reason: format!("cannot read {}: {e}", path.display()),
            })
        };
        let cert_pem = read(cert, "certificate")?;
        let key_pem = read(key, "private key")?;
        Self::from_pem(&cert_pem, &key_pem, alpn).map_err(|e| match e {
            ServerError::Tls { what, reason } => {
                let path = if what == "private key" { key } else { cert };
                ServerError::Tls {
                    what,
                    reason: format!("{}: {reason}", path.display()),
                }
            }
            other => other,
        })
    }

    /// Like [`from_pem_files`](Self::from_pem_files), from PEM text in memory.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], alpn: &[&[u8]]) -> Result<Self, ServerError> {
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServerError::Tls {
                what: "certificate",
                reason: format!("not readable PEM: {e}"),
            })?;
        if certs.is_empty() {
            return Err(ServerError::Tls {
                what: "certificate",
                reason: "no certificate found (expected PEM blocks -----BEGIN CERTIFICATE-----)"
                    .into(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| ServerError::Tls {
            what: "private key",
            reason: match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "no private key found (expected a PEM block such as -----BEGIN PRIVATE KEY-----)".into()
                }
                e => format!("not readable PEM: {e}"),
            },
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| ServerError::Tls {
                what: "private key",
                reason: match e {
                    rustls::Error::InconsistentKeys(_) => {
                        "it does not belong to the certificate (their public keys differ)".into()
                    }
                    e => format!("unusable with the certificate: {e}"),
                },
            })?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsConfig {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        self.acceptor.config()
    }

    /// Runs the server handshake on `stream`, within `timeout`.
    pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        timeout: Duration,
    ) -> io::Result<TlsStream<S>> {
        match tokio::time::timeout(timeout, self.acceptor.accept(stream)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake not done within header_read_timeout",
            )),
        }
    }
}
