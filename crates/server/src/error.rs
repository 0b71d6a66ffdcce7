//! The crate's one error type.

/// Why [`crate::run`] could not serve.
///
/// Errors of single connections are not here: they are logged and counted,
/// and the server carries on.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A limit in [`crate::Limits`] has a value the server cannot work with.
    #[error("limit `{name}` {reason}")]
    InvalidLimit {
        /// The field of `Limits`.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS certificate or key cannot be used.
    #[error("TLS {what}: {reason}")]
    Tls {
        /// `certificate` or `private key`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The listener handed to [`crate::run`] is unusable.
    #[error("listener is unusable: {0}")]
    Listener(#[source] std::io::Error),
}
