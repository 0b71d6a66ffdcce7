//! Strings from the inputs (argv, URLs, transport names, file names) are
//! escaped in every output.

use pushpoll_report::write_report;

use crate::util::{parse_xml, quick, scratch};

const SCRIPT: &str = "<script>alert(\"pwned\")</script>";

#[test]
fn markup_in_the_inputs_stays_text() {
    let mut input = quick();
    input.argv.push(SCRIPT.into());
    input.argv.push("--url=http://h/?a=1&b=2".into());
    input.runs[0].url = format!("http://x/{SCRIPT}&y='1'");
    input.runs[1].transport = "sse<b>&\"x\"".into();
    if let Some(m) = input.machine.as_mut() {
        m.cpu_model = Some("Evil <img src=x> & Co".into());
    }
    let dir = scratch("escaping");
    let files = write_report(&[input], &dir).unwrap();

    let html = std::fs::read_to_string(&files.html).unwrap();
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "raw <script> in the html");
    assert!(!lower.contains("<img"), "raw <img> in the html");
    assert!(!html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"));
    let xml = parse_xml(&html).unwrap_or_else(|e| panic!("escaped html still parses: {e}"));
    // Unescaped, the text is what the input said.
    assert!(xml.text.contains(SCRIPT));
    assert!(xml.text.contains("Evil <img src=x> & Co"));
    assert!(xml.text.contains("sse<b>&\"x\""));

    for svg in &files.charts {
        let text = std::fs::read_to_string(svg).unwrap();
        assert!(!text.contains("<b>"), "{}", svg.display());
        parse_xml(&text).unwrap_or_else(|e| panic!("{}: {e}", svg.display()));
    }

    let md = std::fs::read_to_string(&files.markdown).unwrap();
    // The command line sits in a code block (inert); everything else is escaped.
    let outside_code: String = md
        .split("```")
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, s)| s)
        .collect();
    assert!(
        !outside_code.contains("<script"),
        "raw <script> in the markdown"
    );
    assert!(!outside_code.contains("<img"));
    assert!(outside_code.contains("&lt;img src=x&gt; &amp; Co"));
}
