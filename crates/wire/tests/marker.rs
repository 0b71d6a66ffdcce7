//! `marker`: encode/decode round trips, and `Marker::find` on hostile bytes.

use proptest::prelude::*;
use pushpoll_wire::marker::{Marker, MAX_LEN, PAD, PREFIX};

fn any_marker() -> impl Strategy<Value = Marker> {
    (any::<u32>(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
        |(run_id, publisher, seq, scheduled_us)| Marker {
            run_id,
            publisher,
            seq,
            scheduled_us,
        },
    )
}

/// Bytes biased towards what the parser looks at: the prefix, hex digits,
/// dots, tildes, and a few characters that are not hex.
fn marker_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(PREFIX.to_vec()),
        Just(b"~".to_vec()),
        Just(b".".to_vec()),
        "[0-9a-f]{1,17}".prop_map(String::into_bytes),
        "[g-zA-Z~p1. -]{1,3}".prop_map(String::into_bytes),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn encode_then_find_round_trips(m in any_marker()) {
        let s = m.encode();
        prop_assert!(s.len() <= MAX_LEN);
        prop_assert!(s.bytes().all(|b| b.is_ascii_graphic()));
        prop_assert_eq!(Marker::find(s.as_bytes()), Some(m));
    }

    #[test]
    fn payload_has_the_size_asked_for(m in any_marker(), size in 0usize..4096) {
        let p = m.payload(size);
        prop_assert_eq!(p.len(), size.max(m.encode().len()));
        prop_assert!(p.as_bytes()[m.encode().len()..].iter().all(|&b| b == PAD));
        prop_assert_eq!(Marker::find(p.as_bytes()), Some(m));
    }

    #[test]
    fn find_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = Marker::find(&bytes);
    }

    #[test]
    fn find_never_panics_on_near_markers(bytes in marker_soup()) {
        // Whatever it returns must itself encode to a marker found again.
        if let Some(m) = Marker::find(&bytes) {
            prop_assert_eq!(Marker::find(m.encode().as_bytes()), Some(m));
        }
    }

    /// A server may wrap the payload in anything (socket.io's `42[...]`,
    /// an echo prefix): the marker is still found. The prefix has no `~`
    /// (a `~` there could close an earlier, unrelated candidate); the
    /// suffix may hold any ASCII, markers included.
    #[test]
    fn found_inside_arbitrary_ascii_wrapping(
        m in any_marker(),
        size in 0usize..256,
        prefix in "[\t\n\r -}]{0,64}",
        suffix in "[\\x00-\\x7f]{0,64}",
    ) {
        let wrapped = format!("{prefix}{}{suffix}", m.payload(size));
        prop_assert_eq!(Marker::find(wrapped.as_bytes()), Some(m));
    }

    /// Wrapped as a JSON string (what JSON-relaying servers send): the
    /// marker needs no escaping, so it survives.
    #[test]
    fn found_inside_json(m in any_marker(), size in 0usize..256, event in "[ -~]{0,16}") {
        let json = serde_json::to_string(&(event, m.payload(size))).unwrap();
        let wrapped = format!("42{json}");
        prop_assert_eq!(Marker::find(wrapped.as_bytes()), Some(m));
    }
}
