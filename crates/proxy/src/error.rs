//! The crate's error type: only starting a proxy can fail. Once it runs,
//! what goes wrong on a connection (an unreachable upstream, a reset) is
//! counted in [`ProxyStats`](crate::ProxyStats), never returned.

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// An option has a value the proxy cannot use.
    #[error("--{option}: {reason}")]
    InvalidOption {
        /// The option's command-line name, without dashes.
        option: &'static str,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// `--upstream` or `--listen` did not resolve.
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
    /// The proxy could not listen where it was asked to.
    #[error("proxy: cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
