//! Wire formats shared by the pushpoll server and load generator.
//!
//! Map of the crate:
//! - [`marker`]: the marker the load generator hides inside every payload so it
//!   can recognise its own messages on servers it knows nothing about.
//! - [`poll`]: JSON bodies of the polling endpoints.
//! - [`frame`]: the opt-in `pushpoll.v1` WebSocket subprotocol.
//! - [`sse`]: Server-Sent Events, written and parsed incrementally.
//! - [`query`]: `since` / `wait` / `Last-Event-ID` parsing with explicit errors.
//! - [`ws`]: WebSocket frames as a server writes them, encoded once per
//!   message and shared by every socket.
//! - [`engineio`]: Engine.IO v4 / Socket.IO v5 packets, parsed and encoded.
//! - [`prometheus`]: the one reader of Prometheus' text format (`/metrics`).
//!
//! Nothing here does I/O or reads a clock, so everything is cheap to fuzz and
//! to benchmark. `docs/protocol.md` is the prose version of these formats.
#![warn(missing_docs)]

pub mod engineio;
pub mod frame;
pub mod marker;
pub mod poll;
pub mod prometheus;
pub mod query;
pub mod sse;
pub mod ws;

/// Whether a message was published as text or as binary.
///
/// The Node `ws` server in the notes keeps the binary flag when it relays; so
/// does pushpoll, on every transport (binary payloads travel base64-encoded
/// where the transport is text-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// UTF-8 text (a WebSocket text frame, a `text/*` POST body).
    Text,
    /// Arbitrary bytes (a WebSocket binary frame, an `application/octet-stream` POST body).
    Binary,
}

/// Name of the WebSocket subprotocol that carries sequence numbers.
pub const SUBPROTOCOL: &str = frame::SUBPROTOCOL;
