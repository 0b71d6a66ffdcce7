//! The command line of `pushpoll proxy`, which is also how embedding
//! callers configure a proxy. Checked once, into `config::Config`.

use std::net::SocketAddr;

use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};

/// How a fault cuts a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KillMode {
    /// A reset (RST) on both sides: what a crashed middlebox or host does.
    Rst,
    /// A plain close (FIN) on both sides: what an idle-timeout proxy does.
    Close,
    /// Either, at random, half and half.
    Mixed,
}

/// Options of `pushpoll proxy`; also how embedding callers configure one.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pushpoll proxy",
    about = "Forward TCP with added delay, jitter, a bandwidth cap and connection faults"
)]
pub struct ProxyOpts {
    /// Address to listen on (`host:port`; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,

    /// Address every connection is forwarded to (`host:port`).
    #[arg(long)]
    pub upstream: String,

    /// One-way delay added to each direction, milliseconds (a round trip
    /// gains twice this).
    #[arg(long, default_value_t = 0.0)]
    pub delay: f64,

    /// Jitter, milliseconds: each chunk's delay is drawn uniformly in
    /// `delay ± jitter` (never below 0), without ever reordering bytes.
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,

    /// Bytes per second each connection may carry in each direction
    /// (default: unlimited).
    #[arg(long)]
    pub bandwidth: Option<u64>,

    /// Fault mode: every this many seconds on average (each interval drawn
    /// uniformly between 0.5× and 1.5×), cut one random open connection.
    #[arg(long)]
    pub kill_every: Option<f64>,

    /// Chance that a fault tick actually cuts a connection.
    #[arg(long, default_value_t = 1.0)]
    pub kill_probability: f64,

    /// How a cut is made.
    #[arg(long, value_enum, default_value_t = KillMode::Mixed)]
    pub kill_mode: KillMode,

    /// Most connections cut over the proxy's life.
    #[arg(long, default_value_t = 1000)]
    pub kill_max: u64,

    /// Bytes each connection may hold per direction (read, not yet
    /// written); past it the proxy stops reading and TCP pushes back.
    #[arg(long, default_value_t = 256 * 1024)]
    pub buffer_bytes: usize,

    /// Most connections open at once; more are closed on accept.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
}

impl ProxyOpts {
    /// Options for a proxy in front of `upstream` with every default: no
    /// delay, no cap, no faults, listening on `127.0.0.1:0`.
    pub fn to(upstream: SocketAddr) -> ProxyOpts {
        ProxyOpts::parse_from(["proxy", "--upstream", &upstream.to_string()])
    }
}
