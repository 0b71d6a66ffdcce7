//! Layer 3, the network: connecting (from chosen source addresses, with TLS
//! where the URL says so), counting every byte at the socket, and reading
//! the kernel's per-socket TCP counters.

pub(crate) mod connect;
pub(crate) mod count;
pub(crate) mod preflight;
pub(crate) mod source_ip;
pub(crate) mod tcp_info;
pub(crate) mod tls;
pub(crate) mod wire;
