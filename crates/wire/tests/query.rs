//! `query`: `PollQuery::parse` never panics, and accepts every valid
//! `since`/`wait`, in any order, among any other parameters.

use std::time::Duration;

use proptest::prelude::*;
use pushpoll_wire::query::{parse_last_event_id, PollQuery, QueryError};

/// A `since` as a client may write it: any u64, with leading zeros that
/// keep it within the 20 digits the parser reads.
fn since_text() -> impl Strategy<Value = (u64, String)> {
    (any::<u64>(), 0usize..20).prop_map(|(n, zeros)| {
        let digits = n.to_string();
        let zeros = zeros.min(20 - digits.len());
        (n, format!("{}{digits}", "0".repeat(zeros)))
    })
}

/// A valid `wait`: whole seconds (any u32), or a decimal with up to 16
/// characters (`1.5`, `0.25`, `.5`, `30.`).
fn wait_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|s| s.to_string()),
        "[0-9]{1,6}\\.[0-9]{0,9}",
        "\\.[0-9]{1,15}",
    ]
}

/// Parameters a client may add that the server ignores (cache busters).
fn other_param() -> impl Strategy<Value = String> {
    "[a-rt-vx-z_][a-z_0-9]{0,6}(=[a-zA-Z0-9._~-]{0,12})?"
}

/// Query strings made of the pieces the parser looks at.
fn query_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("since=".to_owned()),
        Just("wait=".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        "[0-9.+eE-]{1,24}",
        "[a-z_]{1,6}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn parse_never_panics(q in prop_oneof![any::<String>(), query_soup()]) {
        if let Ok(parsed) = PollQuery::parse(&q) {
            let _ = parsed.hold(Duration::from_secs(30));
        }
    }

    #[test]
    fn every_valid_since_is_accepted((n, text) in since_text()) {
        prop_assert_eq!(
            PollQuery::parse(&format!("since={text}")),
            Ok(PollQuery { since: Some(n), wait: None })
        );
        prop_assert_eq!(parse_last_event_id(&format!(" {text}\t")), Ok(n));
    }

    #[test]
    fn every_valid_wait_is_accepted_and_clamped(text in wait_text(), cap_ms in 1u64..120_000) {
        let q = PollQuery::parse(&format!("wait={text}"));
        prop_assert!(q.is_ok(), "wait={} refused: {:?}", text, q);
        let wait = q.unwrap().wait.unwrap();
        let secs: f64 = text.parse().unwrap();
        prop_assert_eq!(wait, Duration::from_secs_f64(secs));
        let cap = Duration::from_millis(cap_ms);
        let hold = PollQuery { since: None, wait: Some(wait) }.hold(cap);
        if wait.is_zero() {
            prop_assert_eq!(hold, None);
        } else {
            prop_assert_eq!(hold, Some(wait.min(cap)));
        }
    }

    #[test]
    fn both_in_any_order_among_other_parameters(
        (n, since) in since_text(),
        wait in wait_text(),
        mut others in proptest::collection::vec(other_param(), 0..4),
        since_at in 0usize..5,
        wait_at in 0usize..6,
    ) {
        others.insert(since_at.min(others.len()), format!("since={since}"));
        others.insert(wait_at.min(others.len()), format!("wait={wait}"));
        let q = PollQuery::parse(&others.join("&")).unwrap();
        prop_assert_eq!(q.since, Some(n));
        prop_assert_eq!(q.wait, Some(Duration::from_secs_f64(wait.parse().unwrap())));
    }

    #[test]
    fn a_repeated_parameter_is_named((_, a) in since_text(), (_, b) in since_text()) {
        prop_assert_eq!(
            PollQuery::parse(&format!("since={a}&since={b}")),
            Err(QueryError::Repeated("since"))
        );
    }
}
