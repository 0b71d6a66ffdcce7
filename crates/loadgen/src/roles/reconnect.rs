//! A publisher's connection that may be gone: reopened, with a doubling
//! back-off, when the next message falls due. Every publisher that holds a
//! connection of its own (WebSocket, Socket.IO, SockJS, Bayeux) keeps its
//! messages through an outage this way and sends them late, so the open
//! loop never skips one.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::core::error::Kind;

/// First delay before a publisher reconnects.
pub(crate) const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Longest delay between a publisher's reconnection attempts.
pub(crate) const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// When a publisher may try to connect next, and how long it waits after
/// the next failure.
#[derive(Debug)]
pub(crate) struct Reconnect {
    at: Instant,
    step: Duration,
}

impl Reconnect {
    /// Free to connect at once.
    pub fn new() -> Self {
        Reconnect {
            at: Instant::now(),
            step: RECONNECT_MIN,
        }
    }

    /// A connection was just lost: the next attempt may come at once.
    pub fn lost(&mut self) {
        self.at = Instant::now();
    }

    /// Makes sure `conn` holds a connection: opens one with `open` as often
    /// as the back-off allows, telling `failed` of each failed attempt.
    /// False when publishing must stop instead: `stop` was cancelled, or
    /// `end` passed first.
    pub async fn ensure<C, F, Fut>(
        &mut self,
        conn: &mut Option<C>,
        stop: &CancellationToken,
        end: Instant,
        mut open: F,
        mut failed: impl FnMut(&Kind),
    ) -> bool
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<C, Kind>>,
    {
        while conn.is_none() {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep_until(self.at.min(end)) => {}
            }
            if Instant::now() >= end {
                return false;
            }
            match tokio::time::timeout_at(end, open()).await {
                Ok(Ok(c)) => {
                    *conn = Some(c);
                    self.step = RECONNECT_MIN;
                }
                Ok(Err(kind)) => {
                    failed(&kind);
                    self.at = Instant::now() + self.step;
                    self.step = (self.step * 2).min(RECONNECT_MAX);
                }
                Err(_) => return false,
            }
        }
        true
    }
}
