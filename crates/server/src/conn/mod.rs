//! Sockets, from `accept` to close.
//!
//! One task per accepted socket serves HTTP/1 on it with hyper and, when the
//! socket is upgraded, runs the WebSocket session in the same task, so the
//! connection permit covers the socket's whole life whatever it carries. A
//! socket that opens with the HTTP/2 preface is served HTTP/2 instead
//! ([`http2`](crate::http2)), still one permit per socket.
//!
//! Read bottom up, one job a file:
//! - `listener`: the listen queue of the caller's listener.
//! - (below this folder) [`crate::connection`]: what a socket's task shares
//!   with the router and handlers, and its byte attribution.
//! - `held`: polls and SSE streams over HTTP/1.1 without hyper (what a
//!   held request costs), everything else handed to hyper.
//! - `socket`: serving one ready socket: hyper's settings, HTTP/1 (then the
//!   WebSocket session) or HTTP/2.
//! - `accept`: the accept loop, the connection limit (503 past it), the TLS
//!   handshake, and shutdown.

mod accept;
mod held;
mod listener;
mod socket;

pub(crate) use accept::serve;
pub(crate) use listener::set_backlog;
pub(crate) use socket::http1_builder;
