//! Opening a subscriber's connection: TCP (from a chosen source address,
//! no Nagle, bounded), counted at the socket, TLS on top where the URL says.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pushpoll_netio::{Counted, MaybeTls};
use tokio::net::TcpStream;

use crate::config::trust::TlsTarget;
use crate::core::error::{io_kind, Kind};
use crate::net::count::SubIo;

/// Opens a TCP connection within `timeout` (no Nagle: small frames must not wait).
pub(crate) async fn connect_tcp(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, Kind> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(Kind::Borrowed("connect_timeout")),
        Ok(Err(e)) => Err(io_kind(&e)),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

/// A subscriber's connection: counted at the socket, then TLS when the
/// target is `wss://` or `https://` (so TLS records are counted too).
pub(crate) type SubStream = MaybeTls<Counted<TcpStream, Arc<SubIo>>>;

/// Opens a counted connection for a subscriber, with TLS on top when `tls`
/// says so (the handshake gets its own `timeout`).
pub(crate) async fn connect_counted(
    addr: SocketAddr,
    tls: Option<&TlsTarget>,
    timeout: Duration,
    io: &Arc<SubIo>,
) -> Result<SubStream, Kind> {
    let stream = match io.source {
        Some(source) => {
            let s = crate::net::source_ip::connect_from(source, addr, timeout).await?;
            let _ = s.set_nodelay(true);
            s
        }
        None => connect_tcp(addr, timeout).await?,
    };
    io.wire.set_socket(std::os::fd::AsRawFd::as_raw_fd(&stream));
    crate::net::tls::wrap(Counted::new(stream, io.clone()), tls, timeout).await
}
