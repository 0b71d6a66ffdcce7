//! The crate's error type, for setup only, plus the error *kinds* counted
//! during a run (runtime failures are data, never `Err`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Why a run could not start (or its result could not be written).
///
/// Only setup problems are errors: a server that refuses, resets or times out
/// during a run is measured and counted in [`RunResult::errors`](crate::RunResult::errors).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An option has a value the run cannot use.
    #[error("--{option}: {reason}")]
    InvalidOption {
        /// The option's command-line name, without dashes.
        option: &'static str,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// A URL could not be parsed or does not fit the transport.
    #[error("--{option} {url:?}: {reason}")]
    BadUrl {
        /// `url`, `publish-url` or `server-metrics-url`.
        option: &'static str,
        /// The URL as given.
        url: String,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// The TLS handshake of the check made before a run failed: every
    /// connection of the run would fail the same way.
    #[error("--{option} {url:?}: TLS handshake failed ({kind}): {advice}")]
    Tls {
        /// The option that named the URL.
        option: &'static str,
        /// The URL.
        url: String,
        /// The error kind, as a run would count it (`tls_unknown_issuer`, ...).
        kind: String,
        /// What to do about it.
        advice: &'static str,
    },
    /// The host name of a URL did not resolve.
    #[error("cannot resolve {host:?} (from --{option}): {source}")]
    Resolve {
        /// The option that named the host.
        option: &'static str,
        /// `host:port` that was looked up.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// `--ws-subprotocol` was asked for, and the server's handshake answer
    /// did not select it.
    #[error("--url {url:?}: the server answered the WebSocket handshake without selecting the subprotocol {protocol} (asked for with Sec-WebSocket-Protocol), so it cannot resume by sequence number; it is not pushpoll's server, or an older one. Drop --ws-subprotocol to measure it as a plain relay")]
    SubprotocolRefused {
        /// The subscriber URL.
        url: String,
        /// The subprotocol asked for.
        protocol: &'static str,
    },
    /// A worker process of a split run (`--subscribers-per-worker`) could
    /// not be started, or died or misbehaved before it reported.
    #[error("worker process {index} of the run: {reason}")]
    Worker {
        /// The worker's index (0-based).
        index: usize,
        /// What happened.
        reason: String,
    },
    /// The result could not be written.
    #[error("writing {path:?}: {source}")]
    WriteJson {
        /// The file that was being written.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

/// The kind of a runtime failure, as reported in `errors`: `connect_refused`,
/// `timeout`, `bad_status_503`, `closed_1008`, ...
pub(crate) type Kind = Cow<'static, str>;

/// Errors by kind, counted by one task (no sharing) and merged at the end.
#[derive(Debug, Default, Clone)]
pub(crate) struct ErrorCounts(pub BTreeMap<Kind, u64>);

impl ErrorCounts {
    pub fn add(&mut self, kind: Kind) {
        *self.0.entry(kind).or_default() += 1;
    }

    pub fn merge_into(self, into: &mut BTreeMap<String, u64>) {
        for (k, n) in self.0 {
            *into.entry(k.into_owned()).or_default() += n;
        }
    }
}

/// The kind of an I/O error.
pub(crate) fn io_kind(e: &std::io::Error) -> Kind {
    use std::io::ErrorKind as E;
    // TLS failures reach here as I/O errors that wrap rustls' own.
    if let Some(kind) = pushpoll_netio::tls::failure_kind(e) {
        return kind;
    }
    Cow::Borrowed(match e.kind() {
        E::ConnectionRefused => "connect_refused",
        E::TimedOut => "timeout",
        E::ConnectionReset | E::ConnectionAborted | E::BrokenPipe => "reset",
        E::UnexpectedEof => "eof",
        E::AddrNotAvailable | E::AddrInUse => "local_ports_exhausted",
        _ => "io",
    })
}

/// The kind of an error from hyper (or anything wrapping one), found by
/// walking the source chain.
pub(crate) fn error_kind(e: &(dyn std::error::Error + 'static)) -> Kind {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut fallback: Kind = Cow::Borrowed("protocol");
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io_kind(io);
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return Cow::Borrowed("timeout");
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                fallback = Cow::Borrowed("eof");
            } else if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                return Cow::Borrowed("protocol");
            }
        }
        cur = err.source();
    }
    fallback
}

/// `bad_status_<code>`.
pub(crate) fn status_kind(code: u16) -> Kind {
    Cow::Owned(format!("bad_status_{code}"))
}
