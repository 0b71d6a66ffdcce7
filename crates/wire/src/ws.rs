//! WebSocket frames as a server writes them (RFC 6455 §5.2): one final
//! frame, unmasked, its payload length in the shortest form.
//!
//! Why here and not through a WebSocket library's writer: a broadcast sends
//! the same frame to every subscriber, so the server encodes it once per
//! message and each socket takes the shared bytes (a library's writer frames
//! and copies each message once per socket). Reading stays with the library:
//! what a client sends needs every check of the RFC.
//!
//! ```
//! use pushpoll_wire::ws::{server_frame, Opcode};
//! assert_eq!(&server_frame(Opcode::Text, b"hi")[..], b"\x81\x02hi");
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// The opcodes a server sends (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A UTF-8 text message (`0x1`).
    Text,
    /// A binary message (`0x2`).
    Binary,
    /// Close (`0x8`): a status code and a reason, see [`close_frame`].
    Close,
    /// Ping (`0x9`).
    Ping,
}

impl Opcode {
    fn bits(self) -> u8 {
        match self {
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
        }
    }
}

/// Largest payload of a control frame (Close, Ping): RFC 6455 §5.5.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Bytes of a frame's header for a payload of `len` bytes.
pub fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    }
}

/// Writes a final, unmasked frame's header for a payload of `len` bytes.
pub fn put_header(out: &mut impl BufMut, opcode: Opcode, len: usize) {
    out.put_u8(0x80 | opcode.bits());
    match len {
        0..=125 => out.put_u8(len as u8),
        126..=0xffff => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
}

/// One final, unmasked frame carrying `payload`.
///
/// # Panics
/// When a control frame's payload is longer than [`MAX_CONTROL_PAYLOAD`]
/// (the caller's bug: the RFC forbids it, and a client would fail the
/// connection).
pub fn server_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    assert!(
        matches!(opcode, Opcode::Text | Opcode::Binary) || payload.len() <= MAX_CONTROL_PAYLOAD,
        "a control frame's payload is at most {MAX_CONTROL_PAYLOAD} bytes"
    );
    let mut out = BytesMut::with_capacity(header_len(payload.len()) + payload.len());
    put_header(&mut out, opcode, payload.len());
    out.put_slice(payload);
    out.freeze()
}

/// `reason` cut at a character boundary to fit a Close frame (123 bytes
/// after the code): what [`close_frame`] sends.
pub fn fit_reason(reason: &str) -> &str {
    let mut at = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(at) {
        at -= 1;
    }
    &reason[..at]
}

/// A Close frame with `code` and `reason` ([`fit_reason`]).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let reason = fit_reason(reason);
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    server_frame(Opcode::Close, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_the_shortest_form() {
        for (len, head) in [
            (0usize, vec![0x82, 0]),
            (125, vec![0x82, 125]),
            (126, vec![0x82, 126, 0, 126]),
            (0xffff, vec![0x82, 126, 0xff, 0xff]),
            (0x10000, vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let payload = vec![7u8; len];
            let frame = server_frame(Opcode::Binary, &payload);
            assert_eq!(&frame[..head.len()], &head[..], "length {len}");
            assert_eq!(header_len(len), head.len());
            assert_eq!(&frame[head.len()..], &payload[..]);
        }
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        assert_eq!(&close_frame(1001, "bye")[..], b"\x88\x05\x03\xe9bye");
        let long = "é".repeat(100);
        let frame = close_frame(1008, &long);
        assert_eq!(frame[1] as usize, frame.len() - 2);
        assert!(frame.len() - 2 <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
        assert_eq!(&server_frame(Opcode::Ping, b"")[..], b"\x89\x00");
    }

    #[test]
    #[should_panic(expected = "control frame")]
    fn an_oversized_control_frame_is_refused() {
        server_frame(Opcode::Ping, &[0; 126]);
    }
}
