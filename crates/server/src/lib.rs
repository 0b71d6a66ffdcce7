//! pushpoll's server: one broadcast hub served on one port over WebSocket,
//! Server-Sent Events, long polling and short polling, so the transports can
//! be compared on equal terms. `docs/protocol.md` is the contract; the
//! formats themselves live in `pushpoll-wire`.
//!
//! Map of the crate:
//! - [`run`]: the entry point (the caller binds the listener and decides
//!   when to stop, as in mini-redis).
//! - [`config`]: [`Config`] and [`Limits`], every bound with its default.
//! - [`hub`]: sequence numbers, the bounded history ring and the
//!   cursor-per-subscriber read API; usable alone (benchmarks do).
//! - `conn`: sockets from accept to close: the accept loop and connection
//!   limit, the connection state the router and transports share, byte
//!   attribution per transport, hyper settings, shutdown.
//! - `http2`: HTTP/2 beside HTTP/1.1 on the same port (preface sniffing,
//!   stream limits, the idle timeout, byte attribution per socket).
//! - `router`: one route per path, request-level limits, error answers.
//! - `transport::{ws, sse, poll, publish}`: one module per way in or out.
//! - `metrics`: atomics behind `GET /metrics`, Prometheus text.
//! - `page`: the chat page at `GET /` (`assets/`, embedded).
//! - `response`: the response body type and JSON answers.
//! - [`compress`]: `br` / `gzip` poll answers for clients that accept them.
//! - [`tls`]: serving all of it over TLS (rustls), [`Config::tls`].
//!
//! The server never imports the load generator; they meet only on sockets.
#![warn(missing_docs)]

use std::future::Future;
use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::signal::Signal;
use tracing::info;

pub mod compress;
pub mod config;
mod conn;
mod connection;
mod error;
mod http2;
pub mod hub;
mod metrics;
mod page;
mod response;
mod router;
mod signal;
pub mod tls;
mod transport;

pub use config::{Config, Limits};
pub use error::ServerError;
pub use hub::Hub;
pub use tls::TlsConfig;

/// Serves `listener` until `shutdown` resolves. Its listen queue is set to
/// [`Limits::listen_backlog`] first, whoever bound it.
///
/// Then it stops accepting, sends Close `1001` to every WebSocket, ends SSE
/// streams, answers held long polls (empty), lets in-flight requests finish,
/// and returns within [`Limits::shutdown_grace`], dropping whatever is left.
///
/// ```no_run
/// # async fn demo() -> Result<(), pushpoll_server::ServerError> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
/// pushpoll_server::run(listener, pushpoll_server::Config::default(), shutdown).await
/// # }
/// ```
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.limits.validate()?;
    let addr = listener.local_addr().map_err(ServerError::Listener)?;
    conn::set_backlog(&listener, config.limits.listen_backlog).map_err(ServerError::Listener)?;
    info!(%addr, "pushpoll server listening");
    let shared = Arc::new(Shared::new(config));
    conn::serve(listener, shared, shutdown).await;
    Ok(())
}

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) limits: Limits,
    pub(crate) compression: compress::Compression,
    /// Set when every socket is served over TLS.
    pub(crate) tls: Option<tls::TlsConfig>,
    pub(crate) http: hyper::server::conn::http1::Builder,
    /// HTTP/2 settings, for sockets that open with the HTTP/2 preface.
    pub(crate) http2: hyper::server::conn::http2::Builder<http2::StreamExec>,
    /// Graceful shutdown: stop, say goodbye, finish what is in flight.
    /// Every connection waits on it (parked WebSocket sessions through
    /// [`Self::ws_outlets`]); a wait costs no lock per wake ([`signal`]).
    pub(crate) shutdown: Arc<Signal>,
    /// The grace period is over: drop everything now (every task spawned
    /// with [`Shared::spawn`] waits on it, and each connection's task).
    pub(crate) abort: Arc<Signal>,
    pub(crate) tasks: TaskTracker,
    /// Parked WebSocket sessions, written to by publishers directly
    /// ([`transport::ws::Outlets`]).
    pub(crate) ws_outlets: transport::ws::Outlets,
}

impl Shared {
    fn new(config: Config) -> Self {
        let limits = config.limits;
        let abort = Arc::new(Signal::default());
        let tasks = TaskTracker::new();
        Shared {
            hub: Hub::new(limits.history),
            metrics: Arc::default(),
            http: conn::http1_builder(&limits),
            http2: http2::builder(
                &limits,
                http2::StreamExec::new(tasks.clone(), Arc::clone(&abort)),
            ),
            limits,
            compression: config.compression,
            tls: config.tls,
            shutdown: Arc::new(Signal::default()),
            abort,
            tasks,
            ws_outlets: transport::ws::Outlets::default(),
        }
    }

    /// Stores a message and delivers it: parked WebSocket sessions are
    /// written to (or woken) here, every other subscriber is woken by the
    /// hub. Returns its sequence number.
    pub(crate) fn publish(&self, kind: pushpoll_wire::Kind, payload: bytes::Bytes) -> u64 {
        let message = self.hub.publish_message(kind, payload);
        self.ws_outlets.fan_out(&self.hub, &message, &self.metrics);
        message.seq()
    }

    /// Spawns the task `make` builds, which shutdown waits for and, past the
    /// grace period, drops.
    ///
    /// It takes a closure, not a future, so that the future is built inside
    /// the task: an `async` block keeps a future it was handed (a captured
    /// value) in its own state even after moving it into a `select!`, and
    /// the task would carry the future twice (about 600 bytes per idle
    /// connection).
    pub(crate) fn spawn<F>(&self, make: impl FnOnce() -> F + Send + 'static)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let abort = Arc::clone(&self.abort);
        self.tasks.spawn(async move {
            tokio::select! {
                () = make() => {}
                () = abort.raised() => {}
            }
        });
    }
}
