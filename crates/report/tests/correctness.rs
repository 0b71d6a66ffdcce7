//! Lost, duplicated and reordered messages: zeros shown as 0, and a visible
//! warning for every run where one is not zero.

use pushpoll_report::{correctness, write_report};

use crate::util::{parse_xml, quick, scratch};

#[test]
fn zeros_are_shown_as_zeros() {
    let input = quick();
    let rows = correctness::rows(std::slice::from_ref(&input));
    assert_eq!(rows.len(), input.runs.len());
    for row in &rows {
        let cells = row.cells();
        assert_eq!(cells.len(), correctness::HEADER.len());
        assert_eq!(
            &cells[5..9],
            ["0", "0", "0", "0"],
            "unsent/lost/dup/reordered of {}",
            row.transport
        );
    }
    let dir = scratch("zeros");
    let files = write_report(&[input], &dir).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert!(html.contains("0 lost, 0 duplicated, 0 reordered"));
    assert!(!html.contains("class=\"warning\""));
    assert!(
        html.contains("<td class=\"num\">0</td><td class=\"num\">0</td><td class=\"num\">0</td>")
    );
}

#[test]
fn a_run_that_lost_messages_gets_a_visible_warning() {
    let mut input = quick();
    let lp = input
        .runs
        .iter_mut()
        .find(|r| r.transport == "long-poll")
        .unwrap();
    lp.lost = 3;
    lp.duplicated = 1;
    lp.delivered -= 3;
    let dir = scratch("lost");
    let files = write_report(&[input], &dir).unwrap();

    let html = std::fs::read_to_string(&files.html).unwrap();
    parse_xml(&html).unwrap();
    assert!(html.contains("<div class=\"warning\" role=\"alert\">"));
    assert!(html.contains("Warning: 1 of 4 runs lost, duplicated or reordered messages"));
    assert!(
        html.contains("long-poll (50 subscribers, 10.0 msg/s): 3 lost, 1 duplicated, 0 reordered")
    );
    assert!(html.contains(
        "<td class=\"num\">0</td><td class=\"num bad\">3</td><td class=\"num bad\">1</td><td class=\"num\">0</td>"
    ));
    // In the side-by-side table too.
    assert!(html.contains("<td class=\"num bad\">3/1/0</td>"));

    let md = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(md.contains("> **Warning: 1 of 4 runs"));
    assert!(md.contains("- **Warning**: input 1, long-poll"));
}
