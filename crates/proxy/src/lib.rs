//! A TCP proxy that puts network conditions between a client and a server
//! without `netem` (no root, no kernel module, any OS): a one-way delay per
//! direction, jitter that never reorders, a bandwidth cap per connection,
//! and a fault mode that cuts connections at random times.
//!
//! `pushpoll compare --rtt` puts one in front of the in-process server to
//! show which transports' latency grows with the round trip and by how much
//! (RFC 6202: a long poll needs up to three transits per event when events
//! come back to back; a WebSocket needs one). The fault mode checks that
//! every transport resumes without loss when its connection is cut.
//!
//! What it promises, per connection and direction:
//! - **Delay**: each chunk read at `t` is written no earlier than
//!   `t + delay ± jitter` (jitter uniform), and never before the chunk read
//!   ahead of it: its release time is `max(previous release, t + delay +
//!   jitter)`, so bytes keep their order however large the jitter.
//! - **Handshake**: a new connection's first bytes toward the upstream wait
//!   at least three one-way delays after the accept (SYN, SYN-ACK, then the
//!   data), as a real round trip would make TCP's handshake cost.
//! - **Bandwidth**: at most `--bandwidth` bytes per second are written,
//!   paced in small pieces (a token bucket holding one piece, so a
//!   connection idle for a while gets no burst).
//! - **Bounded memory**: at most `--buffer-bytes` read but not yet written;
//!   beyond that it stops reading, so TCP's own flow control pushes back on
//!   the sender. Half-closes (FIN) travel after the bytes before them.
//! - **Faults** (`--kill-every`): at random times (uniform between 0.5 and
//!   1.5 × the interval) one open connection, picked at random, is cut with
//!   probability `--kill-probability`, on both sides, by RST or by a plain
//!   close (`--kill-mode`), at most `--kill-max` times.
//!
//! The proxy runs on the caller's runtime ([`Proxy::start`]) and counts what
//! it did in [`ProxyStats`].
//!
//! Map of the crate, bottom up (no module imports one above it):
//! - `error`: [`ProxyError`], the only way starting can fail;
//! - `opts`: the command line ([`ProxyOpts`], [`KillMode`]); `config`: the
//!   same, checked and resolved once;
//! - `stats`: the shared counters and their [`ProxyStats`] snapshot;
//! - `pacer`: the bandwidth cap; `delay`: the delay line of one direction
//!   (release times, jitter, the bounded buffer);
//! - `fault`: the fault mode (which connection to cut, and how);
//! - `connection`: one proxied connection, both directions;
//! - `listener`: [`Proxy`] itself and its accept loop.
//!
//! It depends on no other pushpoll crate: it forwards bytes and never reads
//! them.
#![warn(missing_docs)]

mod config;
mod connection;
mod delay;
mod error;
mod fault;
mod listener;
mod opts;
mod pacer;
mod stats;

pub use error::ProxyError;
pub use listener::{run, Proxy};
pub use opts::{KillMode, ProxyOpts};
pub use stats::ProxyStats;
