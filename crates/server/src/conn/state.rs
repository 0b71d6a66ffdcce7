//! What one socket's task shares with the router, the transports and their
//! handlers: the only part of `conn` they see.

use std::net::SocketAddr;
use std::sync::Mutex;

use hyper::upgrade::OnUpgrade;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::attribution::Attribution;
use crate::hub::Subscriber;
use crate::Shared;

/// What one socket's task shares with the router and its handlers.
#[derive(Debug)]
pub(crate) struct ConnState {
    pub(crate) peer: SocketAddr,
    pub(crate) attribution: Attribution,
    /// Set by the WebSocket handshake; the connection task runs the session
    /// once hyper has written the `101`.
    upgrade: Mutex<Option<PendingUpgrade>>,
    /// Ends the connection at once (a peer that will not take its last words).
    kill: Notify,
    /// Cancelled when the server shuts down: this connection's child of
    /// `Shared::shutdown`, which its handlers and sessions wait on.
    pub(crate) stop: CancellationToken,
}

impl ConnState {
    pub(super) fn new(peer: SocketAddr, shared: &Shared) -> Self {
        ConnState {
            peer,
            attribution: Attribution::new(),
            upgrade: Mutex::new(None),
            kill: Notify::new(),
            stop: shared.shutdown.child_token(),
        }
    }

    pub(crate) fn set_upgrade(&self, pending: PendingUpgrade) {
        *self.upgrade.lock().unwrap_or_else(|e| e.into_inner()) = Some(pending);
    }

    pub(super) fn take_upgrade(&self) -> Option<PendingUpgrade> {
        self.upgrade
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Drops the socket without further ado.
    pub(crate) fn kill(&self) {
        self.kill.notify_one();
    }

    /// Resolves when [`kill`](Self::kill) is called.
    pub(super) async fn killed(&self) {
        self.kill.notified().await;
    }
}

/// An accepted WebSocket handshake, waiting for hyper to hand over the
/// socket: what the connection task needs to run the session after the
/// `101`.
pub(crate) struct PendingUpgrade {
    pub(crate) on_upgrade: OnUpgrade,
    pub(crate) sub: Subscriber,
    /// The client asked for `pushpoll.v1`.
    pub(crate) v1: bool,
}

impl std::fmt::Debug for PendingUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingUpgrade")
            .field("sub", &self.sub)
            .field("v1", &self.v1)
            .finish()
    }
}
