//! A private PKI made at test time (no certificate files in the tree, none
//! that expire): a CA and a server certificate it signs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use pushpoll_server::tls::DEFAULT_ALPN;
use pushpoll_server::{Config, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::CertificateDer;

/// A private CA and a server certificate it signed.
pub struct Pki {
    /// The CA's certificate, for a TLS client's root store.
    pub ca_der: CertificateDer<'static>,
    /// The CA's certificate as a PEM file, for `--ca-cert`.
    pub ca_file: TempFile,
    /// The server's certificate (PEM).
    pub cert_pem: String,
    /// The server's private key (PEM).
    pub key_pem: String,
}

/// A CA named after `tag` and a certificate it signs for `127.0.0.1` and
/// `localhost`. Give every PKI of one test its own tag: certificates
/// verify against a CA found by name, so two CAs of one name would make
/// an untrusted CA look like a known one with a bad signature.
pub fn make_pki(tag: &str) -> Pki {
    make_pki_for(tag, &["127.0.0.1", "localhost"])
}

/// [`make_pki`] with the server certificate for `names` (host names or IP
/// addresses) instead.
pub fn make_pki_for(tag: &str, names: &[&str]) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("pushpoll test CA {tag}"));
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("a CA key"))
        .expect("a self-signed CA");
    let key = KeyPair::generate().expect("a server key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .expect("server certificate parameters")
        .signed_by(&key, &ca)
        .expect("a server certificate signed by the CA");
    Pki {
        ca_der: ca.der().clone(),
        ca_file: TempFile::new(&format!("{tag}-ca.pem"), &ca.pem()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

impl Pki {
    /// The server's TLS settings for this certificate, offering the
    /// server's usual ALPN protocols.
    pub fn tls_config(&self) -> TlsConfig {
        TlsConfig::from_pem(
            self.cert_pem.as_bytes(),
            self.key_pem.as_bytes(),
            DEFAULT_ALPN,
        )
        .expect("the test certificate and key are usable")
    }

    /// The default server [`Config`], over TLS with this certificate.
    pub fn server_config(&self) -> Config {
        Config {
            tls: Some(self.tls_config()),
            ..Config::default()
        }
    }
}

static NEXT_FILE: AtomicU64 = AtomicU64::new(0);

/// A file in the temporary folder, removed on drop. Its name ends with the
/// one asked for (messages that name the file can be checked) and starts
/// with this process's id and a counter, so tests running at once never
/// share one.
pub struct TempFile(PathBuf);

impl TempFile {
    /// Writes `text` to a new file whose name ends with `name`.
    pub fn new(name: &str, text: &str) -> TempFile {
        let n = NEXT_FILE.fetch_add(1, Relaxed);
        let path =
            std::env::temp_dir().join(format!("pushpoll-test-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        TempFile(path)
    }

    /// The path, as a command-line argument takes it.
    pub fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_accepts_the_certificate_and_the_ca_file_holds_the_ca() {
        let pki = make_pki("kit");
        let _ = pki.tls_config();
        let pem = std::fs::read_to_string(pki.ca_file.path()).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let path = pki.ca_file.path().to_owned();
        drop(pki);
        assert!(!std::path::Path::new(&path).exists(), "removed on drop");
    }
}
