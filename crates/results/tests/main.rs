//! Integration tests of pushpoll-results, one binary (modules below).
//!
//! The fixtures are results documents as the code before this crate existed
//! wrote them (`pushpoll_loadgen::RunResult` inside the binary's
//! `Document`), every field present: `compare-quick.json` (four
//! transports, the report's fixture of the same name written back) and
//! `ws-deflate.json` (one WebSocket run with `wire`, `tcp`,
//! `deflate_negotiated` and a label), and `compare-quick-sender.json`, a
//! `compare --quick` of the code with `sender` (publishers' sockets
//! counted) and labels. Reading and writing them again must give the same
//! bytes: field names and order are the contract.

mod histogram;
mod roundtrip;
mod schema;

use pushpoll_results::Document;

/// The fixture documents: (name, exact text).
pub fn fixtures() -> [(&'static str, &'static str); 3] {
    [
        (
            "compare-quick.json",
            include_str!("fixtures/compare-quick.json"),
        ),
        ("ws-deflate.json", include_str!("fixtures/ws-deflate.json")),
        (
            "compare-quick-sender.json",
            include_str!("fixtures/compare-quick-sender.json"),
        ),
    ]
}

/// A fixture, parsed.
pub fn parse(text: &str) -> Document {
    serde_json::from_str(text).expect("a results document")
}
