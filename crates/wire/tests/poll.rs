//! Poll JSON: decoding arbitrary bytes never panics, and every answer the
//! server can build decodes back to the same payloads.

use proptest::prelude::*;
use pushpoll_wire::poll::{ErrorBody, PollResponse, PolledMessage, PublishResponse};
use pushpoll_wire::Kind;

/// Bytes shaped like poll answers: JSON punctuation, the field names,
/// numbers and strings, in any order.
fn json_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"messages\"".to_owned()),
        Just("\"seq\"".to_owned()),
        Just("\"text\"".to_owned()),
        Just("\"binary\"".to_owned()),
        Just("\"last_seq\"".to_owned()),
        Just("\"oldest_seq\"".to_owned()),
        Just("\"more\"".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        "-?[0-9]{1,22}(\\.[0-9]{1,3})?(e[0-9]{1,3})?",
        "\"([ -!#-\\[\\]-~]|\\\\[nu\"\\\\])*\"",
    ];
    proptest::collection::vec(piece, 0..48).prop_map(|v| v.concat().into_bytes())
}

fn any_message() -> impl Strategy<Value = (u64, Kind, Vec<u8>)> {
    prop_oneof![
        (any::<u64>(), any::<String>()).prop_map(|(s, t)| (s, Kind::Text, t.into_bytes())),
        (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(s, b)| (
            s,
            Kind::Binary,
            b
        )),
    ]
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn decoding_never_panics(
        bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), json_soup()],
    ) {
        if let Ok(r) = serde_json::from_slice::<PollResponse>(&bytes) {
            for m in &r.messages {
                let _ = m.payload();
            }
            let _ = r.next_since();
        }
        let _ = serde_json::from_slice::<ErrorBody>(&bytes);
        let _ = serde_json::from_slice::<PublishResponse>(&bytes);
    }

    #[test]
    fn answers_round_trip(
        messages in proptest::collection::vec(any_message(), 0..8),
        last_seq in any::<u64>(),
        oldest_seq in any::<u64>(),
        more in any::<bool>(),
    ) {
        let r = PollResponse {
            messages: messages.iter().map(|(s, k, p)| PolledMessage::new(*s, *k, p)).collect(),
            last_seq,
            oldest_seq,
            more,
        };
        let json = serde_json::to_vec(&r).unwrap();
        let back: PollResponse = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(&back, &r);
        for (m, (seq, kind, payload)) in back.messages.iter().zip(&messages) {
            prop_assert_eq!(m.seq, *seq);
            prop_assert_eq!(m.payload().unwrap(), (*kind, payload.clone()));
        }
    }
}
