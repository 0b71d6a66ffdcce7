//! `frame` (`pushpoll.v1`): `decode` never panics, everything it accepts
//! re-encodes to the same bytes, and every encoding decodes back.

use proptest::prelude::*;
use pushpoll_wire::frame::{self, V1Frame, HEADER_LEN};
use pushpoll_wire::Kind;

fn any_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Text), Just(Kind::Binary)]
}

/// Bytes shaped like frames: a type byte near the valid ones, then a
/// length near the interesting ones.
fn frame_like() -> impl Strategy<Value = Vec<u8>> {
    (0u8..6, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(t, rest)| {
        let mut v = vec![t];
        v.extend(rest);
        v
    })
}

/// The encoding of a decoded frame.
fn reencode(f: &V1Frame<'_>) -> Vec<u8> {
    match *f {
        V1Frame::Hello { last_seq } => frame::encode_hello(last_seq).to_vec(),
        V1Frame::Message { seq, kind, payload } => {
            frame::encode_message(seq, kind, payload).to_vec()
        }
        V1Frame::Gap {
            requested_since,
            oldest_seq,
        } => frame::encode_gap(requested_since, oldest_seq).to_vec(),
    }
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn decode_never_panics_and_accepts_only_canonical_frames(
        bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), frame_like()],
    ) {
        match frame::decode(&bytes) {
            Ok(f) => prop_assert_eq!(reencode(&f), bytes),
            Err(_) => prop_assert!(bytes.len() < HEADER_LEN || bytes[0] > 3 || bytes[0] == 0 || bytes[0] == 3),
        }
    }

    #[test]
    fn messages_round_trip(
        seq in any::<u64>(),
        kind in any_kind(),
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let encoded = frame::encode_message(seq, kind, &payload);
        prop_assert_eq!(encoded.len(), HEADER_LEN + payload.len());
        prop_assert_eq!(
            frame::decode(&encoded),
            Ok(V1Frame::Message { seq, kind, payload: &payload })
        );
    }

    #[test]
    fn hello_and_gap_round_trip(a in any::<u64>(), b in any::<u64>()) {
        let hello = frame::encode_hello(a);
        prop_assert_eq!(frame::decode(&hello), Ok(V1Frame::Hello { last_seq: a }));
        let gap = frame::encode_gap(a, b);
        prop_assert_eq!(
            frame::decode(&gap),
            Ok(V1Frame::Gap { requested_since: a, oldest_seq: b })
        );
    }
}
