//! [`ProxyOpts`] checked and resolved once, before anything listens: every
//! later layer takes typed settings and never sees a bad value.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::ProxyError;
use crate::opts::{KillMode, ProxyOpts};

/// Longest delay or jitter accepted, ms (an hour).
const MAX_DELAY_MS: f64 = 3_600_000.0;
/// Largest `--buffer-bytes`.
const MAX_BUFFER: usize = 1 << 30;

/// Validated settings.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub upstream: SocketAddr,
    pub delay: Duration,
    pub jitter: Duration,
    pub bandwidth: Option<u64>,
    pub kill: Option<Kill>,
    pub buffer: usize,
    pub max_connections: usize,
}

/// The fault mode's settings (`--kill-*`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kill {
    pub every: Duration,
    pub probability: f64,
    pub mode: KillMode,
    pub max: u64,
}

fn invalid(option: &'static str, reason: String) -> ProxyError {
    ProxyError::InvalidOption { option, reason }
}

fn millis(option: &'static str, v: f64) -> Result<Duration, ProxyError> {
    if !(v.is_finite() && (0.0..=MAX_DELAY_MS).contains(&v)) {
        return Err(invalid(
            option,
            format!("must be between 0 and {MAX_DELAY_MS} milliseconds, got {v}"),
        ));
    }
    Ok(Duration::from_secs_f64(v / 1000.0))
}

/// The first address `hostport` resolves to.
pub(crate) async fn resolve(
    option: &'static str,
    hostport: &str,
) -> Result<SocketAddr, ProxyError> {
    let resolve_error = |source| ProxyError::Resolve {
        option,
        host: hostport.to_owned(),
        source,
    };
    tokio::net::lookup_host(hostport)
        .await
        .map_err(resolve_error)?
        .next()
        .ok_or_else(|| resolve_error(io::Error::new(io::ErrorKind::NotFound, "no address")))
}

impl Config {
    pub(crate) async fn new(o: &ProxyOpts) -> Result<Config, ProxyError> {
        let delay = millis("delay", o.delay)?;
        let jitter = millis("jitter", o.jitter)?;
        if o.bandwidth == Some(0) {
            return Err(invalid(
                "bandwidth",
                "must be at least 1 byte per second (leave it out for no cap)".into(),
            ));
        }
        if !(o.kill_probability.is_finite() && (0.0..=1.0).contains(&o.kill_probability)) {
            return Err(invalid(
                "kill-probability",
                format!("must be between 0 and 1, got {}", o.kill_probability),
            ));
        }
        let kill = match o.kill_every {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 && s <= MAX_DELAY_MS / 1000.0 => Some(Kill {
                every: Duration::from_secs_f64(s),
                probability: o.kill_probability,
                mode: o.kill_mode,
                max: o.kill_max,
            }),
            Some(s) => {
                return Err(invalid(
                    "kill-every",
                    format!("must be a number of seconds > 0 and at most an hour, got {s}"),
                ))
            }
        };
        if o.buffer_bytes == 0 || o.buffer_bytes > MAX_BUFFER {
            return Err(invalid(
                "buffer-bytes",
                format!("must be between 1 and {MAX_BUFFER}, got {}", o.buffer_bytes),
            ));
        }
        if o.max_connections == 0 {
            return Err(invalid("max-connections", "must be at least 1".into()));
        }
        Ok(Config {
            upstream: resolve("upstream", &o.upstream).await?,
            delay,
            jitter,
            bandwidth: o.bandwidth,
            kill,
            buffer: o.buffer_bytes,
            max_connections: o.max_connections,
        })
    }
}
