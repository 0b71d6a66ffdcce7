//! Where a WebSocket subscriber's bytes go: payload, frame headers, control
//! frames, and (from the kernel, [`crate::net::tcp_info`]) TCP/IP segments.
//!
//! The socket counter ([`pushpoll_netio::Counted`]) sees every byte but not
//! what it was for; a subscriber knows each message it received, so it
//! counts the parts here. The frame header of a message is computed from
//! its length (RFC 6455 §5.2: 2 bytes up to 125, 4 up to 65,535, else 10;
//! 4 more for the mask on frames a client sends). What the socket moved
//! beyond these parts (a reconnect's handshake, a fragmented message's extra
//! headers) is shown as "other" in the result, never hidden.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

use crate::net::tcp_info::{self, TcpCounters};

/// Bytes of the header of a WebSocket frame carrying `len` payload bytes,
/// unmasked (server to client) or masked (client to server).
pub(crate) fn ws_header_len(len: usize, masked: bool) -> u64 {
    let base = match len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    base + if masked { 4 } else { 0 }
}

/// One subscriber's counters, next to its socket counters.
#[derive(Debug, Default)]
pub(crate) struct WireIo {
    /// Data frames (text or binary messages) received.
    pub data_frames: AtomicU64,
    /// Payload bytes in them (the application's bytes; under `pushpoll.v1`
    /// the 9-byte sequence header is framing, not payload).
    pub payload: AtomicU64,
    /// Their frame headers (plus `pushpoll.v1` headers).
    pub framing: AtomicU64,
    /// Ping, pong and close frames, both directions.
    pub control_frames: AtomicU64,
    /// Their bytes, headers included.
    pub control_bytes: AtomicU64,
    /// 1 while the current connection negotiated permessage-deflate.
    pub deflate: std::sync::Arc<AtomicU64>,
    /// The current socket's descriptor + 1 (0: none), for `TCP_INFO`.
    fd: AtomicI32,
}

impl WireIo {
    /// A data message of `payload` application bytes arrived, in a frame of
    /// `frame_payload` bytes (they differ under `pushpoll.v1`).
    pub fn data(&self, payload: usize, frame_payload: usize) {
        self.data_frames.fetch_add(1, Relaxed);
        self.payload.fetch_add(payload as u64, Relaxed);
        let framing = ws_header_len(frame_payload, false) + (frame_payload - payload) as u64;
        self.framing.fetch_add(framing, Relaxed);
    }

    /// A ping arrived with `len` bytes of data, and its pong went back.
    pub fn ping_answered(&self, len: usize) {
        self.control_frames.fetch_add(2, Relaxed);
        let bytes = ws_header_len(len, false) + ws_header_len(len, true) + 2 * len as u64;
        self.control_bytes.fetch_add(bytes, Relaxed);
    }

    /// Records the socket whose `TCP_INFO` snapshots read.
    pub fn set_socket(&self, fd: RawFd) {
        self.fd.store(fd.saturating_add(1), Relaxed);
    }

    /// The counters now, `TCP_INFO` of the current socket included.
    pub fn snapshot(&self) -> WireTotals {
        let fd = self.fd.load(Relaxed);
        let tcp = if fd > 0 { tcp_info::read(fd - 1) } else { None };
        WireTotals {
            data_frames: self.data_frames.load(Relaxed),
            payload: self.payload.load(Relaxed),
            framing: self.framing.load(Relaxed),
            control_frames: self.control_frames.load(Relaxed),
            control_bytes: self.control_bytes.load(Relaxed),
            deflate: self.deflate.load(Relaxed),
            tcp_sockets: u64::from(tcp.is_some()),
            tcp: tcp.unwrap_or_default(),
        }
    }
}

/// Sums of [`WireIo`] over subscribers (and their sockets' `TCP_INFO`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireTotals {
    pub data_frames: u64,
    pub payload: u64,
    pub framing: u64,
    pub control_frames: u64,
    pub control_bytes: u64,
    /// Subscribers whose connection negotiated permessage-deflate.
    pub deflate: u64,
    /// Sockets whose `TCP_INFO` could be read.
    pub tcp_sockets: u64,
    pub tcp: TcpCounters,
}

impl WireTotals {
    /// Counter-wise `self + o`.
    pub fn plus(self, o: WireTotals) -> WireTotals {
        WireTotals {
            data_frames: self.data_frames + o.data_frames,
            payload: self.payload + o.payload,
            framing: self.framing + o.framing,
            control_frames: self.control_frames + o.control_frames,
            control_bytes: self.control_bytes + o.control_bytes,
            deflate: self.deflate + o.deflate,
            tcp_sockets: self.tcp_sockets + o.tcp_sockets,
            tcp: self.tcp.plus(o.tcp),
        }
    }

    /// Counter-wise `self - o` (socket counts are kept from `self`).
    pub fn minus(self, o: WireTotals) -> WireTotals {
        WireTotals {
            data_frames: self.data_frames.saturating_sub(o.data_frames),
            payload: self.payload.saturating_sub(o.payload),
            framing: self.framing.saturating_sub(o.framing),
            control_frames: self.control_frames.saturating_sub(o.control_frames),
            control_bytes: self.control_bytes.saturating_sub(o.control_bytes),
            deflate: self.deflate,
            tcp_sockets: self.tcp_sockets,
            tcp: self.tcp.minus(o.tcp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths_follow_rfc_6455() {
        assert_eq!(ws_header_len(0, false), 2);
        assert_eq!(ws_header_len(125, false), 2);
        assert_eq!(ws_header_len(126, false), 4);
        assert_eq!(ws_header_len(65_535, false), 4);
        assert_eq!(ws_header_len(65_536, false), 10);
        assert_eq!(ws_header_len(64, true), 6);
    }

    #[test]
    fn known_frames_count_exactly() {
        let w = WireIo::default();
        w.data(64, 64); // plain: 2-byte header
        w.data(64, 64 + 9); // pushpoll.v1: 2-byte header + 9-byte seq header
        w.data(300, 300); // 4-byte header
        w.ping_answered(0); // ping 2 B in, pong 6 B out
        let t = w.snapshot();
        assert_eq!((t.data_frames, t.payload), (3, 428));
        assert_eq!(t.framing, 2 + 11 + 4);
        assert_eq!((t.control_frames, t.control_bytes), (2, 8));
        assert_eq!(t.tcp_sockets, 0);
        assert_eq!(t.minus(t).payload, 0);
    }
}
