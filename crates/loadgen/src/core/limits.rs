//! The limits a run's options must stay within, each with its reason:
//! one place to read what pushpoll will refuse before a run starts.

/// Most subscribers one run may ask for.
pub const MAX_SUBSCRIBERS: usize = 1_000_000;
/// Most publishers one run may ask for.
pub const MAX_PUBLISHERS: usize = 10_000;
/// Most messages one run may schedule (`rate × duration`).
pub const MAX_MESSAGES: u64 = 1_000_000_000;
/// Largest payload, bytes.
pub const MAX_PAYLOAD: usize = 16 << 20;
/// Most worker processes one run may start.
pub const MAX_WORKERS: usize = 64;
/// Most `POST`s one publisher may have in flight (`--publish-in-flight`);
/// past its setting it waits (and its later messages are late, which their
/// latency shows).
pub(crate) const MAX_IN_FLIGHT: usize = 256;
