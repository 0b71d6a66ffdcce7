//! `wss://` and `https://`: pushpoll's server over TLS (and a TLS front for
//! the Socket.IO test server) measured with `--ca-cert` or `--insecure`,
//! exactly once; certificates nobody trusts stop the run with advice, or,
//! where they turn up mid-run, are counted by kind. Certificates are made at
//! test time (`pushpoll_testkit::make_pki`, and rcgen for a self-signed
//! one): a private CA and a leaf for `127.0.0.1` / `localhost` it signs.

use std::net::SocketAddr;
use std::sync::Arc;

use pushpoll_loadgen::{run, Hooks, LoadError, RunResult};
use pushpoll_testkit::{make_pki, make_pki_for, Pki, TempFile, TestServer};
use tokio::net::TcpListener;

use crate::support::engineio::{SioOpts, SioServer};
use crate::support::{never, opts};

/// A small run of `transport` at `url` with `trust` arguments.
async fn small_run(transport: &str, url: &str, trust: &[&str]) -> Result<RunResult, LoadError> {
    let mut args = vec![
        "--url",
        url,
        "--transport",
        transport,
        "--subscribers",
        "3",
        "--rate",
        "20",
        "--duration",
        "0.5",
        "--poll-interval",
        "0.1",
        "--grace",
        "2",
    ];
    args.extend_from_slice(trust);
    run(&opts(&args), Hooks::default(), never()).await
}

fn assert_exactly_once(r: &RunResult) {
    assert_eq!(r.subscribers_connected, 3, "{r:?}");
    assert_eq!(r.published, 10, "{:?}", r.errors);
    assert_eq!(r.expected_deliveries, 30);
    assert_eq!((r.delivered, r.lost, r.duplicated), (30, 0, 0), "{r:?}");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_over_tls_delivers_exactly_once() {
    let pki = make_pki("all");
    let server = TestServer::start(pki.server_config()).await;
    let addr = server.addr;
    let ca = ["--ca-cert", pki.ca_file.path()];
    let insecure = ["--insecure"];
    let metrics = format!("https://{addr}/metrics");
    let cases: [(&str, &str, &[&str]); 4] = [
        ("ws", "wss", &ca),
        ("sse", "https", &insecure),
        ("long-poll", "https", &ca),
        ("short-poll", "https", &insecure),
    ];
    for (transport, scheme, trust) in cases {
        let url = format!("{scheme}://{addr}");
        let mut trust = trust.to_vec();
        trust.extend(["--server-metrics-url", &metrics]);
        let r = small_run(transport, &url, &trust).await.unwrap();
        assert_exactly_once(&r);
        assert!(r.server_cpu_s.is_some(), "metrics read over https");
    }
}

/// `--http2` on `https://` asks for ALPN `h2` (a server that does not
/// choose it fails the connection as `no_h2`) and polls and streams over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_negotiates_h2() {
    let pki = make_pki("h2");
    let server = TestServer::start(pki.server_config()).await;
    let addr = server.addr;
    let url = format!("https://{addr}");
    for transport in ["sse", "long-poll", "short-poll"] {
        let trust = ["--ca-cert", pki.ca_file.path(), "--http2"];
        let r = small_run(transport, &url, &trust).await.unwrap();
        assert_exactly_once(&r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_is_trusted_through_ca_cert() {
    // What `openssl req -x509` makes: no CA, the server's certificate is
    // its own issuer; `--ca-cert` with that very file trusts it.
    let own = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let pki = Pki {
        ca_der: own.cert.der().clone(),
        ca_file: TempFile::new("self-signed.pem", &own.cert.pem()),
        cert_pem: own.cert.pem(),
        key_pem: own.signing_key.serialize_pem(),
    };
    let server = TestServer::start(pki.server_config()).await;
    let addr = server.addr;
    let r = small_run(
        "ws",
        &format!("wss://{addr}"),
        &["--ca-cert", pki.ca_file.path()],
    )
    .await
    .unwrap();
    assert_exactly_once(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_bytes_are_counted_at_the_socket() {
    let pki = make_pki("bytes");
    let server = TestServer::start(pki.server_config()).await;
    let tls_addr = server.addr;
    let plain_server = TestServer::start_default().await;
    let plain_addr = plain_server.addr;
    let plain = small_run("ws", &format!("ws://{plain_addr}"), &[])
        .await
        .unwrap();
    let tls = small_run("ws", &format!("wss://{tls_addr}"), &["--insecure"])
        .await
        .unwrap();
    assert_exactly_once(&plain);
    assert_exactly_once(&tls);
    // Same deliveries; TLS adds its handshake and a header and tag to every
    // record, all of it counted.
    assert!(tls.bytes_down > plain.bytes_down, "{tls:?} vs {plain:?}");
    assert!(tls.bytes_up > plain.bytes_up);
    assert!(tls.bytes_per_delivered > plain.bytes_per_delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketio_over_tls_both_engineio_transports() {
    let pki = make_pki("sio");
    let server = SioServer::start(SioOpts {
        ping_ms: 1000,
        require_header: None,
        rename_to: None,
    })
    .await;
    let front = tls_front(&pki, server.addr).await;
    let url = format!("https://{front}");
    for mode in ["polling", "upgrade"] {
        let o = opts(&[
            "--url",
            &url,
            "--transport",
            "socket.io",
            "--socketio-transport",
            mode,
            "--subscribers",
            "2",
            "--rate",
            "40",
            "--duration",
            "0.25",
            "--grace",
            "2",
            "--ca-cert",
            pki.ca_file.path(),
        ]);
        let r = run(&o, Hooks::default(), never()).await.unwrap();
        assert_eq!(r.subscribers_connected, 2, "{mode}: {:?}", r.errors);
        assert_eq!(r.published, 10, "{mode}: {:?}", r.errors);
        assert_eq!((r.delivered, r.lost, r.duplicated), (20, 0, 0), "{mode}");
    }
}

/// A TLS terminator in front of a plain server (for test servers that only
/// speak plain text).
async fn tls_front(pki: &Pki, upstream: SocketAddr) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![CertificateDer::from_pem_slice(pki.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_or_missing_tls_server_stops_the_run_with_advice() {
    let pki = make_pki("untrusted");
    let server = TestServer::start(pki.server_config()).await;
    let addr = server.addr;
    let e = small_run("ws", &format!("wss://{addr}"), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LoadError::Tls { kind, option: "url", .. } if kind == "tls_unknown_issuer"),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("--ca-cert") && text.contains("--insecure"),
        "{text}"
    );

    // A trusted certificate for another name.
    let elsewhere = make_pki_for("elsewhere", &["chat.example"]);
    let other_server = TestServer::start(elsewhere.server_config()).await;
    let other = other_server.addr;
    let e = small_run(
        "sse",
        &format!("https://{other}"),
        &["--ca-cert", elsewhere.ca_file.path()],
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, LoadError::Tls { kind, .. } if kind == "tls_name_mismatch"),
        "{e:?}"
    );

    // A plain server behind an https:// URL.
    let plain_server = TestServer::start_default().await;
    let plain = plain_server.addr;
    let e = small_run("long-poll", &format!("https://{plain}"), &["--insecure"])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LoadError::Tls { kind, .. } if kind == "tls_protocol"),
        "{e:?}"
    );
    assert!(e.to_string().contains("does it speak TLS"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_during_a_run_are_counted_by_kind() {
    // Subscribers and publishers trust their server; the metrics endpoint
    // is another server whose CA they do not know: each scrape fails, is
    // counted as `metrics_tls_unknown_issuer`, and the run goes on.
    let trusted = make_pki("trusted");
    let stranger = make_pki("stranger");
    let server = TestServer::start(trusted.server_config()).await;
    let addr = server.addr;
    let other_server = TestServer::start(stranger.server_config()).await;
    let other = other_server.addr;
    let metrics = format!("https://{other}/metrics");
    let r = small_run(
        "sse",
        &format!("https://{addr}"),
        &[
            "--ca-cert",
            trusted.ca_file.path(),
            "--server-metrics-url",
            &metrics,
        ],
    )
    .await
    .unwrap();
    assert_eq!((r.delivered, r.lost), (30, 0));
    assert_eq!(r.server_cpu_s, None);
    assert_eq!(
        r.errors.get("metrics_tls_unknown_issuer"),
        Some(&2),
        "{:?}",
        r.errors
    );
}

#[tokio::test]
async fn trust_options_are_checked() {
    let pki = make_pki("options");
    let url = "wss://127.0.0.1:9/ws";
    let run_with = |extra: Vec<String>| async move {
        let mut args = vec!["--url".to_owned(), url.to_owned()];
        args.extend(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&opts(&args), Hooks::default(), never())
            .await
            .unwrap_err()
    };
    let e = run_with(vec![
        "--insecure".into(),
        "--ca-cert".into(),
        pki.ca_file.path().into(),
    ])
    .await;
    assert!(
        matches!(
            e,
            LoadError::InvalidOption {
                option: "insecure",
                ..
            }
        ),
        "{e}"
    );
    let e = run_with(vec!["--ca-cert".into(), "/no/such/ca.pem".into()]).await;
    assert!(
        matches!(&e, LoadError::InvalidOption { option: "ca-cert", reason } if reason.contains("/no/such/ca.pem")),
        "{e}"
    );
    let not_pem = TempFile::new("not-a-cert.pem", "hello\n");
    let e = run_with(vec!["--ca-cert".into(), not_pem.path().into()]).await;
    assert!(e.to_string().contains("holds no certificate"), "{e}");
}
