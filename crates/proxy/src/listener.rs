//! The running proxy: [`Proxy::start`] binds and spawns the accept loop,
//! which admits connections (up to `--max-connections`), hands each to
//! [`connection`], and drives the fault mode's ticks.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::sleep_until;
use tokio_util::sync::CancellationToken;

use crate::config::{resolve, Config};
use crate::connection::{connection, Shared};
use crate::error::ProxyError;
use crate::fault::{fault_tick, next_tick, Victims};
use crate::opts::ProxyOpts;
use crate::stats::{Counters, ProxyStats};

/// A running proxy. Dropping it (or [`stop`](Proxy::stop)) closes the
/// listener and every connection.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.cfg.upstream)
            .finish()
    }
}

impl Proxy {
    /// Checks `opts`, binds `--listen` and starts serving on the current
    /// runtime. With the default `127.0.0.1:0`, [`addr`](Proxy::addr) tells
    /// the port.
    pub async fn start(opts: &ProxyOpts) -> Result<Proxy, ProxyError> {
        let cfg = Config::new(opts).await?;
        let listen_error = |source| ProxyError::Listen {
            addr: opts.listen.clone(),
            source,
        };
        let listen = resolve("listen", &opts.listen).await?;
        let listener = TcpListener::bind(listen).await.map_err(listen_error)?;
        let addr = listener.local_addr().map_err(listen_error)?;
        let shared = Arc::new(Shared {
            cfg,
            counters: Counters::default(),
            victims: Victims::default(),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stop.clone()));
        tracing::info!(%addr, upstream = %shared.cfg.upstream, "proxy listening");
        Ok(Proxy {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it did so far.
    pub fn stats(&self) -> ProxyStats {
        self.shared.counters.snapshot()
    }

    /// Closes the listener and every connection; returns what it did.
    pub async fn stop(mut self) -> ProxyStats {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.shared.counters.snapshot()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `pushpoll proxy`: serves until `stop` resolves, then returns what it did.
pub async fn run(
    opts: ProxyOpts,
    stop: impl Future<Output = ()> + Send,
) -> Result<ProxyStats, ProxyError> {
    let proxy = Proxy::start(&opts).await?;
    stop.await;
    Ok(proxy.stop().await)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let mut conns = JoinSet::new();
    let mut next_id: u64 = 0;
    let kill = shared.cfg.kill;
    let mut tick = kill.filter(|k| k.max > 0).map(|k| next_tick(k.every));
    // Cuts sent; connections count the ones they make (a connection may
    // end on its own first), but the bound is on what was sent.
    let mut issued: u64 = 0;
    loop {
        let fault = async {
            match tick {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = fault => {
                if let Some(k) = kill {
                    issued += u64::from(fault_tick(&shared.victims, k));
                    tick = (issued < k.max).then(|| next_tick(k.every));
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    if shared.counters.open.load(Relaxed) >= shared.cfg.max_connections as u64 {
                        shared.counters.refused.fetch_add(1, Relaxed);
                        tracing::debug!(%peer, "proxy full: connection closed");
                        continue;
                    }
                    let id = next_id;
                    next_id += 1;
                    let cut = shared.victims.add(id);
                    shared.counters.open.fetch_add(1, Relaxed);
                    conns.spawn(connection(shared.clone(), id, client, cut));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait a little, go on.
                    tracing::warn!(error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    conns.shutdown().await;
    shared.victims.clear();
    shared.counters.open.store(0, Relaxed);
}
