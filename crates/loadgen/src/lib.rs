//! pushpoll's load generator: measures what one transport costs per
//! delivered message, against any server it can reach over a socket.
//!
//! A run ([`run`]) has four phases:
//! 1. **Ramp-up**: `--subscribers` subscribers connect (paced by `--ramp`,
//!    at most `--connect-concurrency` attempts at once). A subscriber is
//!    *ready* when its WebSocket handshake is done, its SSE response head
//!    has arrived, or its first poll was answered. Only subscribers ready
//!    when the ramp-up ends are expected to receive.
//! 2. **Idle window** (`--idle`): nothing is published; the requests and bytes
//!    the subscribers spend anyway are the [`IdleCost`].
//! 3. **Publishing**, open loop: message `k` is due at `t0 + k / rate`, split
//!    evenly over `--publishers`. Each payload carries a
//!    [`Marker`](pushpoll_wire::marker::Marker) with the run id, publisher,
//!    sequence number and *scheduled* time, so latency is receive time minus
//!    scheduled time, even when the server (or the generator) falls behind.
//! 4. **Grace**: subscribers keep receiving until each has every accepted
//!    message, or `--grace` runs out; what is missing then is lost.
//!
//! Counting happens at the socket: every subscriber connection is wrapped in
//! a byte-counting stream, so headers, handshakes, frames and retries count
//! the same way for every transport. Counters are plain per-task values
//! (latencies are buffered per task and merged into a few HdrHistogram
//! shards), summed when the run ends.
//!
//! Map of the crate, in layers, lowest first; a file imports only its own
//! layer or lower ones (`scripts/check-layers.sh` checks it in CI), so the
//! crate reads bottom up and each piece can be tested alone:
//! 1. `core`: errors and error kinds, [`limits`](MAX_SUBSCRIBERS), the
//!    open-loop schedule and the run's clock, delivery accounting (`tally`,
//!    `ranges`, `acks`: what publishers resolved, read live), progress
//!    ([`Hooks`], [`Phase`], [`Progress`]), the live figures only
//!    `--metrics-addr` reads (latency buckets, errors by kind) and the
//!    histogram codec ([`merge`], from `pushpoll-results`).
//! 2. `config`: the command line ([`LoadOpts`]), header profiles
//!    ([`headers`]), TLS trust, and the validated `plan` (grouped by what
//!    the options are about: load, protocol, identity, targets, workers).
//! 3. `net`: connecting (source addresses, TLS handshakes, the pre-run
//!    check), each subscriber's socket counters (counted through
//!    `pushpoll_netio::Counted`), WebSocket frame accounting and `TCP_INFO`.
//! 4. `proto`: the lean HTTP/1.1 client of polls (`h1`), hyper's HTTP/1.1
//!    and HTTP/2, answer decoding, `Retry-After`, WebSocket configuration
//!    and permessage-deflate, Socket.IO addressing (its packets are
//!    [`pushpoll_wire::engineio`]).
//! 5. `roles`: subscribers (one module per transport, plus `echo`),
//!    publishers, the ramp-up, and the Autobahn client ([`autobahn`]).
//! 6. `worker`: runs split over worker processes (the protocol, the
//!    parent's pool, the child) and their exact merge.
//! 7. `run`: the phases of one [`run`], the sums ([`RunResult`], plain
//!    data from `pushpoll-results`), and the Prometheus endpoint of
//!    `--metrics-addr` (docs/metrics.md).
//!
//! The generator never links the server: it talks to it only over sockets,
//! so it measures pushpoll and, say, a Node `ws` relay the same way.
#![warn(missing_docs)]

mod config;
mod core;
mod net;
mod proto;
mod roles;
mod run;
mod worker;

pub use config::{headers, opts, scenario};
pub use core::merge;
pub use core::progress::{AddrSink, CpuReader, Hooks, Phase, Progress, ProgressSink};
pub use roles::autobahn;

use std::path::Path;

pub use config::opts::{
    LoadOpts, LoadTransport, Pattern, SocketIoTransport, Transport, WsSubprotocol,
};
pub use core::error::LoadError;
pub use core::limits::{MAX_MESSAGES, MAX_PAYLOAD, MAX_PUBLISHERS, MAX_SUBSCRIBERS, MAX_WORKERS};
pub use net::source_ip::MAX_SOURCE_IPS;
/// The JSON contract of a run, plain data shared with the report.
pub use pushpoll_results::result;
pub use pushpoll_results::{IdleCost, LatencySummary, RunResult, TcpOverhead, WireOverhead};
pub use run::run;
pub use worker::serve_worker;

/// Writes a result as pretty-printed JSON (with a final newline).
pub fn write_json(result: &RunResult, path: &Path) -> Result<(), LoadError> {
    let mut text = serde_json::to_string_pretty(result).map_err(|e| LoadError::WriteJson {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    text.push('\n');
    std::fs::write(path, text).map_err(|source| LoadError::WriteJson {
        path: path.to_owned(),
        source,
    })
}
