//! `sse`: the parser never panics on any bytes in any chunking, gives the
//! same events however the stream is cut, and reads back every message the
//! server writes.

use proptest::prelude::*;
use pushpoll_wire::sse::{self, Event, Parser};
use pushpoll_wire::Kind;

/// Streams made of what the parser reacts to: field names, colons,
/// spaces, every line ending, the BOM, NULs and bytes that are not UTF-8.
fn sse_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"id".to_vec()),
        Just(b"id: ".to_vec()),
        Just(b"event".to_vec()),
        Just(b"event: ".to_vec()),
        Just(b"retry: 10".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just("\u{feff}".as_bytes().to_vec()),
        Just(vec![0]),
        Just(vec![0xff, 0xfe]),
        Just(vec![0xe2, 0x82]),
        "[a-z0-9]{1,8}".prop_map(String::into_bytes),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    proptest::collection::vec(piece, 0..64).prop_map(|v| v.concat())
}

fn any_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..512), sse_soup()]
}

/// Cut points for a stream of `len` bytes, as fractions so they shrink well.
fn cuts() -> impl Strategy<Value = Vec<u16>> {
    proptest::collection::vec(any::<u16>(), 0..24)
}

/// Splits `bytes` at the cut points (scaled to its length), keeping empty chunks.
fn chunked<'a>(bytes: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| bytes.len() * usize::from(c) / usize::from(u16::MAX))
        .collect();
    at.sort_unstable();
    let mut chunks = Vec::new();
    let mut from = 0;
    for to in at {
        chunks.push(&bytes[from..to]);
        from = to;
    }
    chunks.push(&bytes[from..]);
    chunks
}

/// What a parser made of a stream: the events, the last id, and whether it
/// refused a line.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    last_id: Option<String>,
    refused: bool,
}

fn parse<'a>(max_line: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut p = Parser::new(max_line);
    let mut events = Vec::new();
    for c in chunks {
        if p.feed(c, &mut events).is_err() {
            return Outcome {
                events,
                last_id: None,
                refused: true,
            };
        }
    }
    Outcome {
        last_id: p.last_event_id().map(str::to_owned),
        events,
        refused: false,
    }
}

fn any_message() -> impl Strategy<Value = (u64, Kind, Vec<u8>)> {
    prop_oneof![
        (any::<u64>(), any::<String>()).prop_map(|(s, t)| (s, Kind::Text, t.into_bytes())),
        (any::<u64>(), "[a-z\r\n ]{0,24}").prop_map(|(s, t)| (s, Kind::Text, t.into_bytes())),
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
    fn never_panics_in_any_chunking(
        bytes in any_stream(),
        cuts in cuts(),
        max_line in prop_oneof![Just(1usize << 16), 0usize..32],
    ) {
        let _ = parse(max_line, chunked(&bytes, &cuts));
    }

    #[test]
    fn the_same_events_however_the_stream_is_cut(bytes in any_stream(), cuts in cuts()) {
        let whole = parse(1 << 16, [&bytes[..]]);
        prop_assert!(!whole.refused);
        prop_assert_eq!(&parse(1 << 16, chunked(&bytes, &cuts)), &whole);
        prop_assert_eq!(&parse(1 << 16, bytes.chunks(1)), &whole);
    }

    /// With a small line limit the parser refuses, whatever the chunking,
    /// exactly the streams that have a line over it, after the same events.
    #[test]
    fn the_line_limit_does_not_depend_on_chunking(
        bytes in sse_soup(),
        cuts in cuts(),
        max_line in 0usize..24,
    ) {
        let whole = parse(max_line, [&bytes[..]]);
        let cut = parse(max_line, chunked(&bytes, &cuts));
        let bytewise = parse(max_line, bytes.chunks(1));
        prop_assert_eq!(&cut.refused, &whole.refused);
        prop_assert_eq!(&bytewise.refused, &whole.refused);
        prop_assert_eq!(&cut.events, &whole.events);
        prop_assert_eq!(&bytewise.events, &whole.events);
    }

    /// Everything the server writes reads back as it was sent, in any chunking.
    #[test]
    fn written_messages_read_back(
        messages in proptest::collection::vec(any_message(), 0..8),
        gap in proptest::option::of((any::<u64>(), any::<u64>(), any::<u64>())),
        cuts in cuts(),
    ) {
        let mut stream = Vec::new();
        sse::write_comment(&mut stream, "pushpoll last_seq=0\r\nretry: 1");
        for (seq, kind, payload) in &messages {
            sse::write_message(&mut stream, *seq, *kind, payload);
        }
        if let Some((s, o, l)) = gap {
            sse::write_gap(&mut stream, s, o, l);
        }
        let out = parse(1 << 20, chunked(&stream, &cuts));
        prop_assert!(!out.refused);
        prop_assert_eq!(out.events.len(), messages.len() + usize::from(gap.is_some()));
        for (e, (seq, kind, payload)) in out.events.iter().zip(&messages) {
            prop_assert_eq!(e.seq(), Some(*seq));
            prop_assert_eq!(e.payload().unwrap(), (*kind, payload.clone()));
        }
        if let Some((s, o, l)) = gap {
            let e = out.events.last().unwrap();
            prop_assert_eq!(e.event.as_str(), sse::EVENT_GAP);
            let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
            prop_assert_eq!(v, serde_json::json!({"requested_since": s, "oldest_seq": o, "last_seq": l}));
        }
    }
}
