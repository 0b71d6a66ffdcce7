//! One module per way a message goes in or out.
//!
//! - [`publish`]: `POST /messages`.
//! - [`poll`]: `GET /messages`, short and long polling.
//! - [`sse`]: `GET /events`, Server-Sent Events.
//! - [`ws`]: `GET /ws`, the WebSocket handshake and session.
//!
//! Push transports (WebSocket, SSE) read the hub through a
//! [`Subscriber`](crate::hub::Subscriber) and are disconnected when a write
//! stays blocked while they fall more than `max_subscriber_lag` behind;
//! [`lag_guard`] is that rule, shared by both.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::signal::Signal;

use crate::hub::Hub;

pub(crate) mod poll;
pub(crate) mod publish;
pub(crate) mod sse;
pub(crate) mod ws;

/// The last sequence number a push subscriber handed to its socket: where
/// it would resume. Shared by reference between a write and its
/// [`lag_guard`], which run in one task (an atomic only so the task is `Send`).
#[derive(Debug)]
pub(crate) struct Delivered(AtomicU64);

impl Delivered {
    pub(crate) fn new(seq: u64) -> Self {
        Delivered(AtomicU64::new(seq))
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    pub(crate) fn set(&self, seq: u64) {
        self.0.store(seq, Relaxed);
    }
}

/// Why a push subscriber's write did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupted {
    /// The server is shutting down.
    Shutdown,
    /// The peer fell too far behind while the write was blocked.
    SlowConsumer {
        /// Messages between what the socket took and `last_seq`.
        behind: u64,
        /// The last sequence number handed to the socket (resume point).
        since: u64,
    },
}

/// Runs `write` (which advances `delivered` as it hands messages to the
/// socket) until it completes, unless the server shuts down or `last_seq`
/// gets more than `max_lag` ahead of `delivered` first.
///
/// A subscriber whose socket takes everything never waits here long; one
/// that stops reading blocks its write, and this is where it is noticed.
/// The write is polled first, so a write that completes at once costs no
/// registration with the hub or the shutdown token.
pub(crate) async fn lag_guard<T>(
    write: impl Future<Output = T>,
    hub: &Hub,
    delivered: &Delivered,
    max_lag: u64,
    shutdown: &Signal,
) -> Result<T, Interrupted> {
    tokio::pin!(write);
    loop {
        let threshold = delivered.get().saturating_add(max_lag).saturating_add(1);
        tokio::select! {
            biased;
            out = &mut write => return Ok(out),
            () = hub.wait_for_seq(threshold) => {
                let since = delivered.get();
                let behind = hub.last_seq().saturating_sub(since);
                if behind > max_lag {
                    return Err(Interrupted::SlowConsumer { behind, since });
                }
            }
            () = shutdown.raised() => return Err(Interrupted::Shutdown),
        }
    }
}
