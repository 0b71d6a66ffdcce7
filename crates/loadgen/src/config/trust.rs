//! What a TLS client trusts and offers, built once from `--ca-cert` /
//! `--insecure` for the whole run: configuration only, the handshakes are
//! [`crate::net::tls`]'s.
//!
//! Trust: the Mozilla roots of `webpki-roots`, plus the certificates of
//! `--ca-cert` (a private CA, or a self-signed server certificate), or no
//! check at all with `--insecure` (signatures of the handshake are still
//! verified, so the session is encrypted, just not authenticated).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

use crate::core::error::LoadError;

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
    pub(crate) connector: TlsConnector,
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
    fn server_names_from_hosts() {
        let client = TlsClient::new(&Trust::Insecure, DEFAULT_ALPN).unwrap();
        let t = TlsTarget::new(client.clone(), "[::1]").unwrap();
        assert!(matches!(t.name, ServerName::IpAddress(_)));
        let t = TlsTarget::new(client, "chat.example").unwrap();
        assert!(matches!(t.name, ServerName::DnsName(_)));
    }
}
