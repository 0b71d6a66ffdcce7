//! `prometheus`: a table of the format's edge cases, a round trip of
//! rendered samples (any label values, blanks, comments and timestamps),
//! and arbitrary text never panics.

use proptest::prelude::*;
use pushpoll_wire::prometheus::{labelled, samples, value, PrometheusError};

/// A line and what it reads as: `None` for a skipped line, else the name,
/// labels, value and timestamp.
type Case = (
    &'static str,
    Result<
        Option<(
            &'static str,
            Vec<(&'static str, &'static str)>,
            f64,
            Option<i64>,
        )>,
        (),
    >,
);

fn table() -> Vec<Case> {
    vec![
        ("", Ok(None)),
        ("   \t", Ok(None)),
        ("# HELP up Whether it is up.", Ok(None)),
        ("  # TYPE up gauge", Ok(None)),
        ("#no space after the hash", Ok(None)),
        ("up 1", Ok(Some(("up", vec![], 1.0, None)))),
        ("up\t 1 \t", Ok(Some(("up", vec![], 1.0, None)))),
        ("  up 1", Ok(Some(("up", vec![], 1.0, None)))),
        ("up 1e3 -5", Ok(Some(("up", vec![], 1000.0, Some(-5))))),
        ("up +Inf", Ok(Some(("up", vec![], f64::INFINITY, None)))),
        ("up -Inf", Ok(Some(("up", vec![], f64::NEG_INFINITY, None)))),
        (
            "a:b 0.5 1700000000000",
            Ok(Some(("a:b", vec![], 0.5, Some(1_700_000_000_000)))),
        ),
        ("m{} 2", Ok(Some(("m", vec![], 2.0, None)))),
        (
            "m {a=\"b\"} 2",
            Ok(Some(("m", vec![("a", "b")], 2.0, None))),
        ),
        (
            "m{a=\"b\",} 2",
            Ok(Some(("m", vec![("a", "b")], 2.0, None))),
        ),
        (
            "m{ a = \"b\" , c=\"\" } 2",
            Ok(Some(("m", vec![("a", "b"), ("c", "")], 2.0, None))),
        ),
        ("m{a=\"}\"} 2", Ok(Some(("m", vec![("a", "}")], 2.0, None)))),
        (
            "m{a=\"x,y=z\"} 2",
            Ok(Some(("m", vec![("a", "x,y=z")], 2.0, None))),
        ),
        (
            "m{a=\"\\\"q\\\"\"} 2",
            Ok(Some(("m", vec![("a", "\"q\"")], 2.0, None))),
        ),
        (
            "m{a=\"\\\\n\"} 2",
            Ok(Some(("m", vec![("a", "\\n")], 2.0, None))),
        ),
        (
            "m{a=\"\\n\"} 2",
            Ok(Some(("m", vec![("a", "\n")], 2.0, None))),
        ),
        (
            "m{a=\"ünï\"} 2",
            Ok(Some(("m", vec![("a", "ünï")], 2.0, None))),
        ),
        ("m{a=\"b\"}2", Ok(Some(("m", vec![("a", "b")], 2.0, None)))),
        ("up", Err(())),
        ("up ", Err(())),
        ("up1", Err(())),
        ("1up 1", Err(())),
        ("up x", Err(())),
        ("up 1 1.5", Err(())),
        ("up 1 2 3", Err(())),
        ("m{a=b} 1", Err(())),
        ("m{a=\"b\" c=\"d\"} 1", Err(())),
        ("m{a=\"b\"", Err(())),
        ("m{a=\"b} 1", Err(())),
        ("m{a=\"\\t\"} 1", Err(())),
        ("m{1a=\"b\"} 1", Err(())),
        ("m{a:b=\"c\"} 1", Err(())),
        ("m{,} 1", Err(())),
        ("{a=\"b\"} 1", Err(())),
    ]
}

#[test]
fn edge_cases() {
    for (line, want) in table() {
        let got: Vec<_> = samples(line).collect();
        match want {
            Ok(None) => assert!(got.is_empty(), "{line:?}: {got:?}"),
            Ok(Some((name, labels, v, ts))) => {
                let [Ok(s)] = &got[..] else {
                    panic!("{line:?}: {got:?}")
                };
                assert_eq!(s.name, name, "{line:?}");
                let l: Vec<(&str, String)> = s.labels().map(|(n, v)| (n, v.into_owned())).collect();
                let want: Vec<(&str, String)> =
                    labels.iter().map(|(n, v)| (*n, v.to_string())).collect();
                assert_eq!(l, want, "{line:?}");
                assert_eq!(s.value, v, "{line:?}");
                assert_eq!(s.timestamp, ts, "{line:?}");
            }
            Err(()) => assert!(matches!(&got[..], [Err(_)]), "{line:?}: {got:?}"),
        }
    }
    let nan: Vec<_> = samples("up NaN").collect();
    assert!(matches!(&nan[..], [Ok(s)] if s.value.is_nan()));
}

#[test]
fn errors_name_their_line_and_the_rest_still_reads() {
    let text = "# TYPE a counter\na 1\nb{x=\"1\" 2\r\nc 3 later\nd 4\n";
    let got: Vec<_> = samples(text).collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got[1], Err(PrometheusError::BadLabels { line: 3 }));
    assert_eq!(got[2], Err(PrometheusError::BadTimestamp { line: 4 }));
    assert_eq!(value(text, "d"), Some(4.0));
    assert_eq!(value(text, "b"), None);
}

#[test]
fn selectors_match_a_subset_of_the_labels() {
    let text = "\
        # TYPE req counter\n\
        req{transport=\"ws\",code=\"200\"} 5\n\
        req{transport=\"sse\",code=\"200\"} 7\n\
        req{transport=\"sse\",code=\"500\"} 1\n\
        request 99\n";
    assert_eq!(value(text, "req"), Some(5.0));
    assert_eq!(labelled(text, "req", &[("transport", "sse")]), Some(7.0));
    assert_eq!(
        labelled(text, "req", &[("code", "500"), ("transport", "sse")]),
        Some(1.0)
    );
    assert_eq!(labelled(text, "req", &[("transport", "poll")]), None);
    assert_eq!(value(text, "request"), Some(99.0));
    assert_eq!(value(text, "re"), None);
}

/// Label values as the format escapes them.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Blanks as an exporter may put them between tokens.
fn gap() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(" "), Just("\t"), Just("  "), Just(" \t ")]
}

#[derive(Debug, Clone)]
struct Rendered {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    timestamp: Option<i64>,
}

fn rendered() -> impl Strategy<Value = Rendered> {
    (
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", any::<String>()), 0..4),
        any::<f64>().prop_filter("NaN never compares equal", |v| !v.is_nan()),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(|(name, mut labels, value, timestamp)| {
            // A label name appears once in a sample.
            let mut seen = std::collections::HashSet::new();
            labels.retain(|(n, _)| seen.insert(n.clone()));
            Rendered {
                name,
                labels,
                value,
                timestamp,
            }
        })
}

fn render(r: &Rendered, gaps: &[&str]) -> String {
    let g = |i: usize| gaps[i % gaps.len()];
    let mut line = r.name.clone();
    if !r.labels.is_empty() {
        let set: Vec<String> = r
            .labels
            .iter()
            .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
            .collect();
        line.push_str(&format!("{{{}}}", set.join(",")));
    }
    line.push_str(g(0));
    line.push_str(&r.value.to_string());
    if let Some(t) = r.timestamp {
        line.push_str(g(1));
        line.push_str(&t.to_string());
    }
    line
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn rendered_samples_read_back(
        rs in proptest::collection::vec(rendered(), 1..8),
        gaps in proptest::collection::vec(gap(), 1..4),
        comment in "[^\r\n]{0,20}",
    ) {
        let mut text = String::new();
        for r in &rs {
            text.push_str(&format!("# HELP {} {comment}\n", r.name));
            text.push_str(&render(r, &gaps));
            text.push_str("\r\n\n");
        }
        let got: Vec<_> = samples(&text).collect();
        prop_assert_eq!(got.len(), rs.len());
        for (s, r) in got.iter().zip(&rs) {
            let s = s.as_ref().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(s.name, r.name.as_str());
            prop_assert_eq!(s.value, r.value);
            prop_assert_eq!(s.timestamp, r.timestamp);
            let labels: Vec<(String, String)> = s
                .labels()
                .map(|(n, v)| (n.to_owned(), v.into_owned()))
                .collect();
            prop_assert_eq!(&labels, &r.labels);
            for (n, v) in &r.labels {
                prop_assert!(s.matches(&[(n.as_str(), v.as_str())]));
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![
        any::<String>(),
        "[a-z{}=\",\\\\ \t\n#0-9.+-]{0,80}",
    ]) {
        for s in samples(&text).flatten() {
            let _ = s.labels().count();
        }
        let _ = labelled(&text, "a", &[("b", "c")]);
    }
}
