//! What a proxy did: plain counters bumped by every connection, read as a
//! [`ProxyStats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// What a proxy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// Connections accepted and forwarded.
    pub connections: u64,
    /// Connections open now.
    pub open: u64,
    /// Connections closed on accept because `--max-connections` were open.
    pub refused: u64,
    /// Connections reset because the upstream could not be reached.
    pub upstream_failures: u64,
    /// Bytes written to the upstream.
    pub bytes_up: u64,
    /// Bytes written back to clients.
    pub bytes_down: u64,
    /// Connections the fault mode cut with a reset.
    pub killed_rst: u64,
    /// Connections the fault mode cut with a plain close.
    pub killed_close: u64,
    /// Most bytes one direction of one connection held at once.
    pub peak_buffered_bytes: u64,
}

impl ProxyStats {
    /// Connections the fault mode cut, either way.
    pub fn killed(&self) -> u64 {
        self.killed_rst + self.killed_close
    }
}

/// The live counters behind [`ProxyStats`], shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections: AtomicU64,
    pub open: AtomicU64,
    pub refused: AtomicU64,
    pub upstream_failures: AtomicU64,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    pub killed_rst: AtomicU64,
    pub killed_close: AtomicU64,
    pub peak_buffered: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ProxyStats {
        ProxyStats {
            connections: self.connections.load(Relaxed),
            open: self.open.load(Relaxed),
            refused: self.refused.load(Relaxed),
            upstream_failures: self.upstream_failures.load(Relaxed),
            bytes_up: self.bytes_up.load(Relaxed),
            bytes_down: self.bytes_down.load(Relaxed),
            killed_rst: self.killed_rst.load(Relaxed),
            killed_close: self.killed_close.load(Relaxed),
            peak_buffered_bytes: self.peak_buffered.load(Relaxed),
        }
    }
}
