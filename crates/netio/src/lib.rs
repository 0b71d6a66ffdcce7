//! Socket plumbing shared by pushpoll's server and load generator, so that
//! both sides count and wrap sockets with the same code.
//!
//! Map of the crate:
//! - [`Counted`] and [`Counter`]: a stream reporting every byte that crosses
//!   it; [`ByteCounts`] is the plain two-number counter.
//! - [`MaybeTls`]: plain or rustls (client or server side), with the ALPN
//!   protocol chosen; [`tls::failure_kind`] names a TLS failure.
//! - [`SpareRead`]: reads through a stack buffer, so an idle connection
//!   holds no read bytes (memory per idle WebSocket).
//! - Feature `hyper`: hyper-util's `Connection` for [`MaybeTls`].
//!
//! It depends on no sibling crate and knows no protocol above TLS.
#![warn(missing_docs)]

mod count;
mod forward;
mod spare;
pub mod tls;

pub use count::{ByteCounts, Counted, Counter};
pub use spare::SpareRead;
pub use tls::MaybeTls;
