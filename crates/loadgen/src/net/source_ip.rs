//! `--source-ips`: subscriber sockets bound to chosen local addresses.
//!
//! A TCP connection is named by (source address, source port, destination
//! address, destination port). Towards one server address, one source
//! address has only the ephemeral port range to offer (about 28,000 ports
//! on Linux), so one generator address cannot hold more connections than
//! that. Binding subscribers round-robin to several local addresses (on
//! Linux every `127.x.y.z` is local; on a real host, the addresses of its
//! interfaces) multiplies the room. Publishers and the pre-run checks
//! connect unbound: they are few.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::core::error::{io_kind, Kind, LoadError};

/// Most addresses `--source-ips` may list.
pub const MAX_SOURCE_IPS: usize = 1024;

/// The address subscriber `index` binds to (none when the list is empty).
pub(crate) fn pick(ips: &[IpAddr], index: usize) -> Option<IpAddr> {
    (!ips.is_empty()).then(|| ips[index % ips.len()])
}

/// Checks the list against the server's address before anything connects:
/// same address family, no duplicates, and each one bindable here (so an
/// address that belongs to another machine fails now, with its name, rather
/// than as one `connect` error per subscriber).
pub(crate) fn validate(ips: &[IpAddr], server: SocketAddr) -> Result<(), LoadError> {
    let bad = |reason: String| LoadError::InvalidOption {
        option: "source-ips",
        reason,
    };
    if ips.len() > MAX_SOURCE_IPS {
        return Err(bad(format!(
            "at most {MAX_SOURCE_IPS} addresses, got {}",
            ips.len()
        )));
    }
    for (i, ip) in ips.iter().enumerate() {
        if ips[..i].contains(ip) {
            return Err(bad(format!("{ip} is listed twice")));
        }
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(bad(format!(
                "{ip} is not a unicast address of this machine"
            )));
        }
        if ip.is_ipv4() != server.is_ipv4() {
            return Err(bad(format!(
                "{ip} and the server's address {} are not of the same family (IPv4 vs IPv6)",
                server.ip()
            )));
        }
        if ip.is_loopback() != server.ip().is_loopback() {
            return Err(bad(format!(
                "{ip} cannot reach the server at {}: loopback addresses only reach loopback servers and the other way round",
                server.ip()
            )));
        }
        let probe = socket_for(*ip).and_then(|s| s.bind(SocketAddr::new(*ip, 0)));
        if let Err(e) = probe {
            return Err(bad(format!(
                "{ip} is not an address of this machine (binding it failed: {e}); on Linux any 127.x.y.z works, otherwise use addresses of this host's interfaces"
            )));
        }
    }
    Ok(())
}

fn socket_for(ip: IpAddr) -> std::io::Result<TcpSocket> {
    if ip.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

/// Connects to `addr` from `source` (any port), within `timeout`.
pub(crate) async fn connect_from(
    source: IpAddr,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, Kind> {
    let socket = socket_for(source).map_err(|e| io_kind(&e))?;
    // A bind error here is port exhaustion on that address
    // (`local_ports_exhausted`), counted like any connect failure.
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|e| io_kind(&e))?;
    match tokio::time::timeout(timeout, socket.connect(addr)).await {
        Err(_) => Err(Kind::Borrowed("connect_timeout")),
        Ok(Err(e)) => Err(io_kind(&e)),
        Ok(Ok(s)) => Ok(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn round_robin() {
        let l = ips(&["127.0.0.2", "127.0.0.3"]);
        let picked: Vec<_> = (0..4).map(|i| pick(&l, i).unwrap()).collect();
        assert_eq!(
            picked,
            ips(&["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"])
        );
        assert_eq!(pick(&[], 3), None);
    }

    #[test]
    fn refuses_foreign_duplicate_and_mismatched_addresses() {
        let server: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert!(validate(&ips(&["127.0.0.2", "127.0.0.3"]), server).is_ok());
        let err = |l: &[&str]| validate(&ips(l), server).unwrap_err().to_string();
        assert!(err(&["127.0.0.2", "127.0.0.2"]).contains("listed twice"));
        assert!(err(&["::1"]).contains("same family"));
        assert!(err(&["0.0.0.0"]).contains("not a unicast"));
        // TEST-NET-3: never an address of this machine, and not loopback.
        let e = validate(&ips(&["203.0.113.7"]), "203.0.113.1:9".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--source-ips") && e.contains("not an address of this machine"),
            "{e}"
        );
        assert!(err(&["203.0.113.7"]).contains("loopback"));
    }
}
