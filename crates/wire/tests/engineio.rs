//! `engineio`: decoders never panic on arbitrary text, and what the
//! encoders write reads back (events keep their name and payload, polling
//! bodies keep their packets).

use proptest::prelude::*;
use pushpoll_wire::engineio::{emit, join, packet, payload, sio, Packet, SioPacket};

/// Text made of the pieces the decoders look at.
fn packet_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[0-6]",
        Just("\x1e".to_owned()),
        Just("[\"".to_owned()),
        Just("\",".to_owned()),
        Just("/nsp,".to_owned()),
        "[0-9]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn decoders_never_panic(text in prop_oneof![any::<String>(), packet_soup()]) {
        for p in payload(&text) {
            if let Packet::Message(m) = packet(p) {
                let _ = sio(m, "e");
            }
        }
    }

    #[test]
    fn emitted_events_read_back(event in any::<String>(), data in any::<String>()) {
        let e = emit(&event, &data);
        let Packet::Message(m) = packet(&e) else {
            return Err(TestCaseError::fail(format!("not a message: {e:?}")));
        };
        prop_assert_eq!(sio(m, &event), SioPacket::Event { named: true, raw: m });
        let other = format!("{event}x");
        prop_assert_eq!(sio(m, &other), SioPacket::Event { named: false, raw: m });
        let (name, back): (String, String) = serde_json::from_str(&m[1..]).unwrap();
        prop_assert_eq!((name, back), (event, data));
    }

    #[test]
    fn polling_bodies_keep_their_packets(
        packets in proptest::collection::vec("[^\x1e]{1,12}", 0..6),
    ) {
        let body = join(&packets);
        prop_assert_eq!(payload(&body).collect::<Vec<_>>(), packets);
    }
}
