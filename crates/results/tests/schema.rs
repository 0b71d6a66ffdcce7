//! The schema describes what the code writes: real documents validate, and
//! the schema is strict enough to catch a renamed field.

use pushpoll_results::{Document, SCHEMA};

use crate::{fixtures, parse};

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn errors(validator: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    validator.iter_errors(doc).map(|e| e.to_string()).collect()
}

#[test]
fn the_fixtures_match_the_schema() {
    let validator = validator();
    for (name, text) in fixtures() {
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let errors = errors(&validator, &doc);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn a_new_document_matches_the_schema() {
    let validator = validator();
    for command in ["load", "compare", "merge"] {
        let doc = Document::new(command, 0, parse(fixtures()[1].1).runs);
        let value = serde_json::to_value(&doc).unwrap();
        let errors = errors(&validator, &value);
        assert!(errors.is_empty(), "{command}: {errors:#?}");
    }
}

#[test]
fn the_schema_is_not_vacuous() {
    let validator = validator();
    let written: serde_json::Value = serde_json::from_str(fixtures()[1].1).unwrap();
    // A renamed field fails it.
    let mut renamed = written.clone();
    let run = renamed["runs"][0].as_object_mut().unwrap();
    let lost = run.remove("lost").unwrap();
    run.insert("loss".into(), lost);
    assert!(!validator.is_valid(&renamed));
    // So does a wrong type in a nested part, and an unknown command.
    let mut nested = written.clone();
    nested["runs"][0]["wire"]["tcp"]["segments_in"] = serde_json::json!("many");
    assert!(!validator.is_valid(&nested));
    let mut command = written;
    command["command"] = serde_json::json!("serve");
    assert!(!validator.is_valid(&command));
}
