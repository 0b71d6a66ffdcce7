//! What the loader and the writer say when they cannot do their job.

use pushpoll_report::{load_documents, write_report, ReportError, ReportInput};

use crate::util::{fixture_path, quick, scratch};

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let err = load_documents(["/nonexistent/pushpoll.json"]).unwrap_err();
    assert!(matches!(err, ReportError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/pushpoll.json"));
}

#[test]
fn a_file_that_is_not_a_document_is_a_parse_error_naming_it() {
    let dir = scratch("bad-json");
    let path = dir.join("bad.json");
    std::fs::write(&path, "{\"runs\": 3}").unwrap();
    let err = load_documents([&path]).unwrap_err();
    assert!(matches!(err, ReportError::Parse { .. }), "{err:?}");
    assert!(err.to_string().contains("bad.json"));
}

#[test]
fn unknown_fields_and_missing_extras_are_tolerated() {
    let text = std::fs::read_to_string(fixture_path("compare-quick.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let obj = doc.as_object_mut().unwrap();
    obj.insert("a_field_from_the_future".into(), 1.into());
    obj.remove("machine");
    obj.remove("started_unix_s");
    let input = ReportInput::from_json(&doc.to_string()).unwrap();
    assert_eq!(input.runs.len(), 4);
    assert_eq!(input.machine, None);
    let dir = scratch("tolerant");
    let files = write_report(&[input], &dir).unwrap();
    let md = std::fs::read_to_string(files.markdown).unwrap();
    assert!(md.contains("Machine: not recorded."));
}

#[test]
fn no_runs_is_an_error_not_an_empty_report() {
    let mut input = quick();
    input.runs.clear();
    let dir = scratch("no-runs");
    let err = write_report(&[input], &dir).unwrap_err();
    assert!(matches!(err, ReportError::NoRuns), "{err:?}");
    assert!(!dir.join("report.html").exists());
}

#[test]
fn the_loader_keeps_the_order_and_the_source() {
    let paths = [
        fixture_path("compare-quick-sweep.json"),
        fixture_path("compare-quick.json"),
    ];
    let inputs = load_documents(&paths).unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0].runs.len(), 16);
    assert_eq!(inputs[1].source.as_deref(), Some(paths[1].as_path()));
    assert_eq!(inputs[1].command, "compare");
}
