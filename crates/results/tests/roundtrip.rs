use pushpoll_results::{Document, RunResult};

use crate::{fixtures, parse};

/// Written as the binary writes it: pretty JSON and a final newline.
fn written(doc: &Document) -> String {
    serde_json::to_string_pretty(doc).unwrap() + "\n"
}

#[test]
fn documents_are_written_back_byte_for_byte() {
    for (name, text) in fixtures() {
        assert_eq!(written(&parse(text)), text, "{name}");
    }
}

#[test]
fn a_run_alone_serialises_as_inside_its_document() {
    for (name, text) in fixtures() {
        for (i, run) in parse(text).runs.iter().enumerate() {
            let alone = serde_json::to_string_pretty(run).unwrap();
            // Inside the document each run is indented by two levels.
            let nested = alone.replace('\n', "\n    ");
            assert!(text.contains(&nested), "{name} run {i}");
            let back: RunResult = serde_json::from_str(&alone).unwrap();
            assert_eq!(&back, run, "{name} run {i}");
        }
    }
}

#[test]
fn fields_added_later_default_when_absent() {
    // Documents older than a field still read; the field takes its default.
    let (_, text) = fixtures()[0];
    let mut value: serde_json::Value = serde_json::from_str(text).unwrap();
    let run = value["runs"][0].as_object_mut().unwrap();
    for field in [
        "planned_deliveries",
        "unsent",
        "other_run_markers",
        "unmarked_frames",
        "generator_cpu_s",
        "generator_cpu_us_per_delivered",
        "total_cpu_us_per_delivered",
        "wire",
        "label",
        "one_way_delay_ms",
        "timeline",
        "boundary",
    ] {
        assert!(run.remove(field).is_some(), "{field}");
    }
    let old: Document = serde_json::from_value(value).unwrap();
    let run = &old.runs[0];
    assert_eq!(
        (
            run.planned_deliveries,
            run.unsent,
            run.other_run_markers,
            run.unmarked_frames
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(run.wire, None);
    assert_eq!(run.label, None);
    assert!(run.timeline.is_empty());
}

#[test]
fn a_new_document_carries_this_version_and_machine() {
    let runs = parse(fixtures()[0].1).runs;
    let doc = Document::new("compare", 7, runs.clone());
    assert_eq!(doc.format, pushpoll_results::document::FORMAT);
    assert_eq!(doc.command, "compare");
    assert_eq!(doc.started_unix_s, 7);
    assert_eq!(doc.pushpoll_version, env!("CARGO_PKG_VERSION"));
    assert!(doc.machine.cpus >= 1);
    assert_eq!(doc.runs, runs);
}

#[test]
fn the_senders_side_reads_back_per_sent_message() {
    let (name, text) = fixtures()[2];
    let doc = parse(text);
    for run in &doc.runs {
        let s = run
            .sender
            .unwrap_or_else(|| panic!("{name}: {} has sender", run.transport));
        let sent = run.published as f64;
        assert_eq!(s.bytes_up_per_sent, Some(s.bytes_up as f64 / sent));
        assert_eq!(s.requests_per_sent, Some(s.requests as f64 / sent));
        // A POST per message for every transport but WebSocket, whose
        // publisher sends frames on the connection it opened before.
        let want = if run.transport == "ws" {
            0
        } else {
            run.published
        };
        assert_eq!(s.requests, want, "{}", run.transport);
    }
    // Documents without the field read as None and write it back absent.
    let (_, old) = fixtures()[0];
    assert!(parse(old).runs.iter().all(|r| r.sender.is_none()));
}
