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
//! Trust: the Mozilla roots of `webpki-roots`, plus the certificates of
//! `--ca-cert` (a private CA, or a self-signed server certificate), or no
//! check at all with `--insecure` (signatures of the handshake are still
//! verified, so the session is encrypted, just not authenticated).
//!
//! A handshake that fails is an error *kind* like a refused connection:
//! `tls_unknown_issuer`, `tls_name_mismatch`, `tls_expired`,
//! `tls_bad_certificate`, `tls_alert_<description>`, `tls_protocol`, or
//! the I/O kind of a socket that died during it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use pushpoll_netio::MaybeTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::plan::Target;
use crate::core::error::{io_kind, Kind, LoadError};

/// ALPN protocols offered by default: HTTP/1.1 only (WebSocket handshakes
/// and pushpoll's polls and streams are HTTP/1.1 requests).
pub(crate) const DEFAULT_ALPN: &[&[u8]] = &[b"http/1.1"];

/// How server certificates are checked.
#[derive(Debug, Clone, Default)]
pub(crate) enum Trust {
    /// The webpki (Mozilla) roots only.
    #[default]
    WebPki,
    /// The webpki roots plus the certificates in these PEM files.
    Extra(Vec<CertificateDer<'static>>),
    /// Nothing is checked (`--insecure`).
    Insecure,
}

impl Trust {
    /// Reads `--ca-cert`: every certificate of a PEM file.
    pub fn from_ca_file(path: &Path) -> Result<Trust, LoadError> {
        let bad = |reason: String| LoadError::InvalidOption {
            option: "ca-cert",
            reason,
        };
        let pem =
            std::fs::read(path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("{} is not readable PEM: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(bad(format!(
                "{} holds no certificate (expected PEM blocks -----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        Ok(Trust::Extra(certs))
    }
}

/// A client TLS configuration, shared by every connection of a run.
#[derive(Clone)]
pub(crate) struct TlsClient {
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("alpn", &self.connector.config().alpn_protocols)
            .finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(provider::default_provider())
}

impl TlsClient {
    /// A configuration trusting `trust`, offering the `alpn` protocols.
    pub fn new(trust: &Trust, alpn: &[&[u8]]) -> Result<TlsClient, LoadError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| LoadError::InvalidOption {
                option: "ca-cert",
                reason: format!("TLS setup failed: {e}"),
            })?;
        let mut config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth(),
            Trust::WebPki | Trust::Extra(_) => {
                let mut roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                if let Trust::Extra(certs) = trust {
                    for cert in certs {
                        roots
                            .add(cert.clone())
                            .map_err(|e| LoadError::InvalidOption {
                                option: "ca-cert",
                                reason: format!("a certificate cannot be used as a root: {e}"),
                            })?;
                    }
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

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

/// What a TLS target needs: the run's configuration and the server's name.
#[derive(Debug, Clone)]
pub(crate) struct TlsTarget {
    pub client: TlsClient,
    pub name: ServerName<'static>,
}

impl TlsTarget {
    /// The name of `host` (a DNS name, or an IP address in or out of brackets).
    pub fn new(client: TlsClient, host: &str) -> Result<TlsTarget, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{host:?} cannot be a TLS server name: {e}"))?;
        Ok(TlsTarget { client, name })
    }

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

/// Before a run: one uncounted handshake with `target` (when it is TLS), so
/// a certificate this client cannot trust stops the run at once with advice
/// (`--ca-cert`, `--insecure`) instead of failing every connection. A server
/// that cannot be reached is left to the run, which counts such failures.
pub(crate) async fn check(
    target: &Target,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), LoadError> {
    let Some(tls) = &target.tls else {
        return Ok(());
    };
    let Ok(tcp) = crate::net::count::connect_tcp(addr, timeout).await else {
        return Ok(());
    };
    match tls.connect(tcp, timeout).await {
        Ok(mut s) => {
            use tokio::io::AsyncWriteExt as _;
            let _ = tokio::time::timeout(timeout, s.shutdown()).await;
            Ok(())
        }
        Err(kind) if is_tls_kind(&kind) && kind != "tls_timeout" => Err(LoadError::Tls {
            option: target.option,
            url: target.url.to_string(),
            advice: advice(&kind),
            kind: kind.into_owned(),
        }),
        Err(_) => Ok(()),
    }
}

/// hyper-util's connector for the `POST` publishers and the metrics scrape:
/// TCP (no Nagle, bounded connect), then TLS for `https://` URIs.
#[derive(Clone)]
pub(crate) struct Connector {
    http: HttpConnector,
    tls: Option<TlsTarget>,
    timeout: Duration,
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
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<MaybeTls<TcpStream>>;
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
        let connecting = self.http.call(uri);
        Box::pin(async move {
            if https_without_tls {
                return Err(io::Error::other("an https:// URI without TLS settings").into());
            }
            let tcp = connecting.await?.into_inner();
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

/// `--insecure`: any certificate is accepted; handshake signatures are
/// still checked (with the provider's algorithms), so the peer must hold
/// the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
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

    #[test]
    fn server_names_from_hosts() {
        let client = TlsClient::new(&Trust::Insecure, DEFAULT_ALPN).unwrap();
        let t = TlsTarget::new(client.clone(), "[::1]").unwrap();
        assert!(matches!(t.name, ServerName::IpAddress(_)));
        let t = TlsTarget::new(client, "chat.example").unwrap();
        assert!(matches!(t.name, ServerName::DnsName(_)));
    }
}
