//! A stream with or without TLS, for either side of a handshake, and the
//! names of TLS failures.
//!
//! Who configures rustls and runs the handshake is the caller's business
//! (the server's acceptor, the load generator's connector); this module
//! holds the finished stream so the code above reads and writes it the
//! same way, plain or not, and tells which protocol ALPN chose.

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::CertificateError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::{client, server, TlsStream};

/// A stream with or without TLS.
///
/// The TLS state is boxed, so a plain connection, by far the most common in
/// a big run, stays as small as the stream it wraps.
pub enum MaybeTls<S> {
    /// No TLS: `ws://`, `http://`, a plain-text server.
    Plain(S),
    /// TLS with the handshake done, as a client (`wss://`, `https://`) or as
    /// a server.
    Tls(Box<TlsStream<S>>),
}

impl<S> MaybeTls<S> {
    /// The ALPN protocol the handshake agreed on (`None`: plain text, or no
    /// protocol both sides have).
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            MaybeTls::Plain(_) => None,
            MaybeTls::Tls(t) => t.get_ref().1.alpn_protocol(),
        }
    }
}

impl<S> From<client::TlsStream<S>> for MaybeTls<S> {
    fn from(s: client::TlsStream<S>) -> Self {
        MaybeTls::Tls(Box::new(TlsStream::Client(s)))
    }
}

impl<S> From<server::TlsStream<S>> for MaybeTls<S> {
    fn from(s: server::TlsStream<S>) -> Self {
        MaybeTls::Tls(Box::new(TlsStream::Server(s)))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// hyper's client learns from this whether ALPN chose HTTP/2.
#[cfg(feature = "hyper")]
impl<S> hyper_util::client::legacy::connect::Connection for MaybeTls<S>
where
    S: hyper_util::client::legacy::connect::Connection + AsyncRead + AsyncWrite + Unpin,
{
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        match self {
            MaybeTls::Plain(s) => s.connected(),
            MaybeTls::Tls(t) => {
                let (inner, state) = t.get_ref();
                let c = inner.connected();
                if state.alpn_protocol() == Some(b"h2") {
                    c.negotiated_h2()
                } else {
                    c
                }
            }
        }
    }
}

/// The kind of the TLS failure inside an I/O error (rustls reports failed
/// handshakes and records that way): see [`rustls_kind`]. `None` when the
/// error is not a TLS one.
pub fn failure_kind(e: &io::Error) -> Option<Cow<'static, str>> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(rustls_kind)
}

/// `tls_<reason>` for a rustls error: `tls_unknown_issuer`,
/// `tls_name_mismatch`, `tls_expired`, `tls_not_valid_yet`,
/// `tls_bad_certificate`, `tls_alert_<description>`, `tls_no_alpn`,
/// `tls_no_certificate`, or `tls_protocol` for anything else.
pub fn rustls_kind(e: &rustls::Error) -> Cow<'static, str> {
    use rustls::Error as E;
    Cow::Borrowed(match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "tls_unknown_issuer",
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "tls_name_mismatch"
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "tls_expired",
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "tls_not_valid_yet"
            }
            _ => "tls_bad_certificate",
        },
        E::AlertReceived(alert) => {
            return Cow::Owned(format!("tls_alert_{}", snake(&format!("{alert:?}"))))
        }
        E::NoApplicationProtocol => "tls_no_alpn",
        E::NoCertificatesPresented => "tls_no_certificate",
        _ => "tls_protocol",
    })
}

/// `HandshakeFailure` → `handshake_failure`.
fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_name_the_reason() {
        assert_eq!(
            rustls_kind(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            )),
            "tls_unknown_issuer"
        );
        assert_eq!(
            rustls_kind(&rustls::Error::AlertReceived(
                rustls::AlertDescription::HandshakeFailure
            )),
            "tls_alert_handshake_failure"
        );
        let wrapped = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
        );
        assert_eq!(failure_kind(&wrapped).as_deref(), Some("tls_name_mismatch"));
        assert_eq!(
            failure_kind(&io::Error::from(io::ErrorKind::ConnectionReset)),
            None
        );
    }

    #[tokio::test]
    async fn plain_has_no_alpn() {
        let (a, _b) = tokio::io::duplex(64);
        assert_eq!(MaybeTls::Plain(a).alpn(), None);
    }

    /// Both sides of one handshake, the client's socket counted: each side
    /// reads the ALPN choice, and the counts are the TLS records, not the
    /// plain text.
    #[tokio::test]
    async fn client_and_server_agree_on_alpn() {
        use std::sync::Arc;

        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        use crate::{ByteCounts, Counted};

        let leaf = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = CertificateDer::from(leaf.cert.der().to_vec());
        let key = PrivateKeyDer::try_from(leaf.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.alpn_protocols = vec![b"h2".to_vec()];

        let (a, b) = tokio::io::duplex(1 << 16);
        let counted = Counted::new(a, Arc::new(ByteCounts::default()));
        let counts = Arc::clone(counted.counter());
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let name = ServerName::try_from("localhost").unwrap();
        let (c, s) = tokio::join!(connector.connect(name, counted), acceptor.accept(b));
        let (mut c, mut s) = (MaybeTls::from(c.unwrap()), MaybeTls::from(s.unwrap()));
        assert_eq!(c.alpn(), Some(&b"h2"[..]));
        assert_eq!(s.alpn(), Some(&b"h2"[..]));

        c.write_all(b"ping").await.unwrap();
        c.flush().await.unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        // The handshake alone is hundreds of bytes each way.
        assert!(counts.written() > 100, "{}", counts.written());
        assert!(counts.read() > 100, "{}", counts.read());
    }
}
