//! The `pushpoll.v1` WebSocket subprotocol.
//!
//! A plain WebSocket client (the notes' browser page, `wscat`) gets raw
//! payloads, exactly as the Node `ws` server sends them. A client that asks for
//! `Sec-WebSocket-Protocol: pushpoll.v1` gets every server→client message as a
//! binary frame with a 9-byte header, so it learns sequence numbers and can
//! resume with `?since=` without loss:
//!
//! | byte 0 | bytes 1..9 (big-endian u64) | bytes 9.. | meaning |
//! |---|---|---|---|
//! | `0x00` | `last_seq` | — | hello: sent once, first |
//! | `0x01` | `seq` | payload | a text message |
//! | `0x02` | `seq` | payload | a binary message |
//! | `0x03` | `requested_since` | `oldest_seq` (u64) | gap: history no longer holds what was asked for; replay continues from `oldest_seq` |
//!
//! Client→server frames are the same in both modes: each text or binary frame
//! is published as is.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Kind;

/// The subprotocol token.
pub const SUBPROTOCOL: &str = "pushpoll.v1";
/// Bytes before the payload of a message frame.
pub const HEADER_LEN: usize = 9;

const HELLO: u8 = 0x00;
const TEXT: u8 = 0x01;
const BINARY: u8 = 0x02;
const GAP: u8 = 0x03;

/// A decoded `pushpoll.v1` server frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Frame<'a> {
    /// First frame on a connection: where the hub stands.
    Hello {
        /// Newest sequence number at connect time.
        last_seq: u64,
    },
    /// A relayed message.
    Message {
        /// The hub's sequence number.
        seq: u64,
        /// Whether it was published as text or binary.
        kind: Kind,
        /// The original payload.
        payload: &'a [u8],
    },
    /// The client asked for history the ring no longer holds.
    Gap {
        /// The `since` the client asked for.
        requested_since: u64,
        /// Oldest sequence number still held; replay continues from here.
        oldest_seq: u64,
    },
}

/// Encodes a message frame.
pub fn encode_message(seq: u64, kind: Kind, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(HEADER_LEN + payload.len());
    b.put_u8(match kind {
        Kind::Text => TEXT,
        Kind::Binary => BINARY,
    });
    b.put_u64(seq);
    b.put_slice(payload);
    b.freeze()
}

/// Encodes the hello frame.
pub fn encode_hello(last_seq: u64) -> Bytes {
    let mut b = BytesMut::with_capacity(HEADER_LEN);
    b.put_u8(HELLO);
    b.put_u64(last_seq);
    b.freeze()
}

/// Encodes a gap notice.
pub fn encode_gap(requested_since: u64, oldest_seq: u64) -> Bytes {
    let mut b = BytesMut::with_capacity(HEADER_LEN + 8);
    b.put_u8(GAP);
    b.put_u64(requested_since);
    b.put_u64(oldest_seq);
    b.freeze()
}

/// Why a frame is not valid `pushpoll.v1`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the header needs.
    #[error("pushpoll.v1 frame too short: {0} bytes")]
    TooShort(usize),
    /// Unknown type byte.
    #[error("pushpoll.v1 frame has unknown type 0x{0:02x}")]
    UnknownType(u8),
    /// A hello or gap frame with bytes left over.
    #[error("pushpoll.v1 control frame of type 0x{kind:02x} has {len} bytes, expected {expected}")]
    BadLength {
        /// The type byte.
        kind: u8,
        /// Length seen.
        len: usize,
        /// Length required.
        expected: usize,
    },
}

/// Decodes a binary frame received under `pushpoll.v1`.
pub fn decode(frame: &[u8]) -> Result<V1Frame<'_>, FrameError> {
    if frame.len() < HEADER_LEN {
        return Err(FrameError::TooShort(frame.len()));
    }
    let kind = frame[0];
    let n = u64::from_be_bytes(frame[1..9].try_into().expect("8 bytes"));
    let exact = |expected: usize| {
        if frame.len() == expected {
            Ok(())
        } else {
            Err(FrameError::BadLength {
                kind,
                len: frame.len(),
                expected,
            })
        }
    };
    match kind {
        HELLO => exact(HEADER_LEN).map(|()| V1Frame::Hello { last_seq: n }),
        TEXT | BINARY => Ok(V1Frame::Message {
            seq: n,
            kind: if kind == TEXT {
                Kind::Text
            } else {
                Kind::Binary
            },
            payload: &frame[HEADER_LEN..],
        }),
        GAP => exact(HEADER_LEN + 8).map(|()| V1Frame::Gap {
            requested_since: n,
            oldest_seq: u64::from_be_bytes(frame[9..17].try_into().expect("8 bytes")),
        }),
        other => Err(FrameError::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_round_trips() {
        assert_eq!(decode(&encode_hello(7)), Ok(V1Frame::Hello { last_seq: 7 }));
        assert_eq!(
            decode(&encode_message(8, Kind::Text, b"hi")),
            Ok(V1Frame::Message {
                seq: 8,
                kind: Kind::Text,
                payload: b"hi"
            })
        );
        assert_eq!(
            decode(&encode_message(9, Kind::Binary, &[])),
            Ok(V1Frame::Message {
                seq: 9,
                kind: Kind::Binary,
                payload: &[]
            })
        );
        assert_eq!(
            decode(&encode_gap(3, 100)),
            Ok(V1Frame::Gap {
                requested_since: 3,
                oldest_seq: 100
            })
        );
    }

    #[test]
    fn rejects_malformed_frames() {
        assert_eq!(decode(&[1, 2]), Err(FrameError::TooShort(2)));
        assert_eq!(decode(&[9; 9]), Err(FrameError::UnknownType(9)));
        let mut hello = encode_hello(1).to_vec();
        hello.push(0);
        assert!(matches!(decode(&hello), Err(FrameError::BadLength { .. })));
    }
}
