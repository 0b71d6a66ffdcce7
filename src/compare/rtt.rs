//! `compare --rtt`: pushpoll's delaying proxy in front of the in-process
//! server, one per round-trip time, started on first use.

use std::net::SocketAddr;

use anyhow::Context as _;
use pushpoll_proxy::{Proxy, ProxyOpts};

/// The delaying proxy for `rtt_ms` in front of `server`, started on first use.
pub(super) async fn proxy_for(
    proxies: &mut Vec<(f64, Proxy)>,
    rtt_ms: f64,
    server: SocketAddr,
) -> anyhow::Result<SocketAddr> {
    if let Some((_, p)) = proxies.iter().find(|(r, _)| *r == rtt_ms) {
        return Ok(p.addr());
    }
    let mut opts = ProxyOpts::to(server);
    opts.delay = rtt_ms / 2.0;
    let proxy = Proxy::start(&opts)
        .await
        .with_context(|| format!("starting the {rtt_ms} ms RTT proxy"))?;
    let addr = proxy.addr();
    proxies.push((rtt_ms, proxy));
    Ok(addr)
}
