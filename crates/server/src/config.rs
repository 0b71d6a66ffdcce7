//! Every limit the server enforces, in one place, with its default.
//!
//! The house rule is "cap what a client can make the server hold": each field
//! below bounds one resource (sockets, bytes buffered, time held) and is used
//! by exactly the code its doc comment names.

use std::time::Duration;

use crate::ServerError;

/// How the server is run. Everything but [`Limits`] is left to the caller (it
/// binds the listener and decides when to shut down).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Every bound on what clients can make the server hold.
    pub limits: Limits,
    /// Compression of poll answers for clients that accept it (default:
    /// `br`, then `gzip`, from 20 bytes).
    pub compression: crate::compress::Compression,
    /// Serve every transport over TLS (`https://`, `wss://`) with this
    /// certificate; `None` (the default) serves plain text.
    pub tls: Option<crate::tls::TlsConfig>,
}

/// The server's limits. `Limits::default()` gives the documented defaults;
/// tests shrink them to provoke each limit cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open sockets (HTTP keep-alive, SSE and WebSocket alike). Above it a new
    /// socket is answered `503` and closed. Default 16 384.
    pub max_connections: usize,
    /// Sockets over `max_connections` being answered `503` at once; past this
    /// they are closed without an answer, so a connection flood cannot make
    /// the rejection path itself grow. Default 64.
    pub max_pending_rejections: usize,
    /// Length of the listen queue: connections the kernel has completed but
    /// the server has not accepted yet. When it is full the kernel drops
    /// new SYNs, and each dropped client retries only after a second (then
    /// 3, 7 s), so a reconnect storm that outruns the accept loop turns into
    /// seconds of delay. [`crate::run`] applies it to the listener it is
    /// given (tokio binds with 1 024); Linux caps it at
    /// `net.core.somaxconn` (4 096 by default). Default 4 096: 5,000
    /// clients reconnecting at once overflowed 1 024 (README, "reconnect
    /// storm").
    pub listen_backlog: u32,
    /// Bytes of request line plus headers. Over it: `431` with a JSON body.
    /// hyper's parser stops at twice this (at least 8 KiB more) with a bare
    /// `431` and closes. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Number of request headers. Over it: `431` with a JSON body; hyper's
    /// parser stops at twice this with a bare `431`. Default 64.
    pub max_headers: usize,
    /// Bytes of a `POST /messages` body. Over it: `413`. Default 64 KiB.
    pub max_body_bytes: usize,
    /// Messages kept in the history ring, the only place payloads are held.
    /// Each message holds its `pushpoll.v1` frame and, once a subscriber
    /// of each kind took it, its SSE event (4/3 of the payload for binary,
    /// base64) and its two WebSocket frames (v1, plain), each encoded once
    /// and shared: worst case about `4.4 × history × max(max_body_bytes,
    /// ws_max_message_bytes)`. Default 10 000.
    pub history: usize,
    /// Messages in one poll answer; a longer answer is cut and says `"more":true`.
    /// Default 1 000.
    pub max_poll_batch: usize,
    /// How far (in messages) a WebSocket or SSE subscriber may fall behind
    /// `last_seq` before it is disconnected as a slow consumer. Default 1 024.
    pub max_subscriber_lag: u64,
    /// Time a client has to send a complete request head, the WebSocket
    /// handshake included; also how long an idle keep-alive socket is kept.
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// Largest WebSocket message a client may send (tungstenite
    /// `max_message_size`; over it the socket is closed with `1009`).
    /// Default 64 KiB.
    pub ws_max_message_bytes: usize,
    /// Largest single WebSocket frame payload a client may send (tungstenite
    /// `max_frame_size`). Default 64 KiB.
    pub ws_max_frame_bytes: usize,
    /// tungstenite read buffer per WebSocket, allocated (and zeroed) up
    /// front, so every idle WebSocket pays for it; also the most tungstenite
    /// takes per read. Its reads are served from what one socket read
    /// brought in (`pushpoll_netio::SpareRead`, up to 16 KiB a system call),
    /// so a small buffer costs copies, not system calls. A frame longer than
    /// this is still read whole (the buffer grows to the frame). Default
    /// 128 bytes (was 1 KiB before `SpareRead`; `scripts/conn-cost.sh`).
    pub ws_read_buffer_bytes: usize,
    /// Most bytes of frames gathered for one write to a WebSocket when
    /// several messages wait (a write carries at least one whole message,
    /// so the most a session buffers is this plus the largest message the
    /// server relays); one message goes out as the hub's shared frame,
    /// uncopied. Default 4 KiB.
    pub ws_write_buffer_bytes: usize,
    /// A WebSocket is sent a Ping this often. Default 30 s.
    pub ws_ping_interval: Duration,
    /// A WebSocket from which nothing (Pong or any frame) arrives within this
    /// time after a Ping is dropped. Default 30 s.
    pub ws_pong_timeout: Duration,
    /// Longest hold of a long poll; a bigger `wait` is clamped to it (RFC
    /// 6202's safe value). Default 30 s.
    pub long_poll_max: Duration,
    /// An SSE stream with nothing to send gets a `: keepalive` comment this
    /// often. Default 15 s.
    pub sse_keepalive: Duration,
    /// How long a parting word (WebSocket Close `1001`/`1008`/`44xx`, the last
    /// SSE gap event) may wait on a peer that does not read before the socket
    /// is dropped. Default 5 s.
    pub close_timeout: Duration,
    /// After shutdown is asked for, [`crate::run`] returns within this time
    /// even if clients hang. Default 5 s.
    pub shutdown_grace: Duration,
    /// Streams one HTTP/2 connection may have open at once (its
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`): held long polls and SSE streams
    /// multiplexed on one socket, which holds one of `max_connections`.
    /// Default 256 (browsers share one connection per origin; servers such
    /// as nginx offer 128).
    pub h2_max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 16_384,
            max_pending_rejections: 64,
            listen_backlog: 4096,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 64 * 1024,
            history: 10_000,
            max_poll_batch: 1_000,
            max_subscriber_lag: 1_024,
            header_read_timeout: Duration::from_secs(10),
            ws_max_message_bytes: 64 * 1024,
            ws_max_frame_bytes: 64 * 1024,
            ws_read_buffer_bytes: 128,
            ws_write_buffer_bytes: 4 * 1024,
            ws_ping_interval: Duration::from_secs(30),
            ws_pong_timeout: Duration::from_secs(30),
            long_poll_max: Duration::from_secs(30),
            sse_keepalive: Duration::from_secs(15),
            close_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(5),
            h2_max_concurrent_streams: 256,
        }
    }
}

impl Limits {
    /// The size of a request head past which it is not parsed at all (the
    /// router answers heads over [`max_header_bytes`](Self::max_header_bytes)
    /// with `431`; this is the hard stop for heads too big to parse).
    pub(crate) fn hard_header_bytes(&self) -> usize {
        self.max_header_bytes
            .saturating_mul(2)
            .max(self.max_header_bytes.saturating_add(8 * 1024))
    }

    /// Refuses values the server cannot work with (zero sizes and periods),
    /// naming the field, before anything is served.
    pub fn validate(&self) -> Result<(), ServerError> {
        let sizes = [
            ("max_connections", self.max_connections),
            ("max_header_bytes", self.max_header_bytes),
            ("max_headers", self.max_headers),
            ("history", self.history),
            ("max_poll_batch", self.max_poll_batch),
            ("ws_max_message_bytes", self.ws_max_message_bytes),
            ("ws_max_frame_bytes", self.ws_max_frame_bytes),
            ("ws_read_buffer_bytes", self.ws_read_buffer_bytes),
            ("listen_backlog", self.listen_backlog as usize),
            (
                "h2_max_concurrent_streams",
                self.h2_max_concurrent_streams as usize,
            ),
        ];
        for (name, value) in sizes {
            if value == 0 {
                return Err(ServerError::InvalidLimit {
                    name,
                    reason: "must be at least 1".into(),
                });
            }
        }
        let periods = [
            ("header_read_timeout", self.header_read_timeout),
            ("ws_ping_interval", self.ws_ping_interval),
            ("ws_pong_timeout", self.ws_pong_timeout),
            ("sse_keepalive", self.sse_keepalive),
        ];
        for (name, value) in periods {
            if value.is_zero() {
                return Err(ServerError::InvalidLimit {
                    name,
                    reason: "must be longer than zero".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zeroes_are_named() {
        assert!(Limits::default().validate().is_ok());
        let bad = Limits {
            history: 0,
            ..Limits::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("history"), "{err}");
        let bad = Limits {
            sse_keepalive: Duration::ZERO,
            ..Limits::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("sse_keepalive"));
    }
}
