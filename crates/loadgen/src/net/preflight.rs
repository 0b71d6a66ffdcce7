//! Before a run: the checks that stop it at once, with advice, rather
//! than let every connection fail the same way.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::plan::Target;
use crate::core::error::LoadError;
use crate::net::tls::{advice, is_tls_kind};

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
    let Ok(tcp) = crate::net::connect::connect_tcp(addr, timeout).await else {
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
