//! Shared helpers: fixtures, scratch folders and a strict XML check.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use pushpoll_report::{load_documents, ReportInput, RunResult};
use quick_xml::events::Event;
use quick_xml::Reader;

/// Path of a committed fixture.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The one-workload fixture.
pub fn quick() -> ReportInput {
    load_documents([fixture_path("compare-quick.json")])
        .expect("fixture loads")
        .remove(0)
}

/// The sweep fixture.
pub fn sweep() -> ReportInput {
    load_documents([fixture_path("compare-quick-sweep.json")])
        .expect("fixture loads")
        .remove(0)
}

/// The run of `transport` in `input` (the first one).
pub fn run<'a>(input: &'a ReportInput, transport: &str) -> &'a RunResult {
    input
        .runs
        .iter()
        .find(|r| r.transport == transport)
        .unwrap_or_else(|| panic!("fixture has a {transport} run"))
}

/// A fresh, empty folder under the system's temp dir.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pushpoll-report-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// What a strict XML reading of a document found.
#[derive(Debug, Default)]
pub struct XmlSummary {
    /// Names of every element, in document order.
    pub elements: Vec<String>,
    /// (element, attribute name, unescaped value) of every attribute.
    pub attributes: Vec<(String, String, String)>,
    /// Every text node, unescaped, concatenated with spaces.
    pub text: String,
    /// Whether a `<!DOCTYPE ...>` came first.
    pub doctype: bool,
}

/// Reads `doc` as XML: end tags must match, entities must be the five XML
/// ones or numeric, attributes unique, exactly one root element, nothing
/// left open. Returns what it saw, or why it is not well-formed.
pub fn parse_xml(doc: &str) -> Result<XmlSummary, String> {
    let mut reader = Reader::from_str(doc);
    reader.config_mut().check_comments = true;
    let mut out = XmlSummary::default();
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut seen_element = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        let element =
            |e: &quick_xml::events::BytesStart<'_>, out: &mut XmlSummary| -> Result<(), String> {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                for a in e.attributes() {
                    let a = a.map_err(|err| format!("attribute of <{name}>: {err}"))?;
                    let value = a
                        .unescape_value()
                        .map_err(|err| format!("attribute value in <{name}>: {err}"))?;
                    out.attributes.push((
                        name.clone(),
                        String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                        value.into_owned(),
                    ));
                }
                out.elements.push(name);
                Ok(())
            };
        match event {
            Event::DocType(_) => {
                if seen_element {
                    return Err("DOCTYPE after the root element".into());
                }
                out.doctype = true;
            }
            Event::Start(e) => {
                if depth == 0 {
                    roots += 1;
                }
                seen_element = true;
                depth += 1;
                element(&e, &mut out)?;
            }
            Event::Empty(e) => {
                if depth == 0 {
                    roots += 1;
                }
                seen_element = true;
                element(&e, &mut out)?;
            }
            Event::End(_) => depth -= 1,
            Event::Text(t) => {
                let text = t.decode().map_err(|e| format!("text: {e}"))?;
                if depth == 0 && !text.trim().is_empty() {
                    return Err(format!("text outside the root element: {text:?}"));
                }
                out.text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let ch = match r
                    .resolve_char_ref()
                    .map_err(|e| format!("reference: {e}"))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| format!("reference: {e}"))?;
                        match name.as_ref() {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "quot" => "\"",
                            "apos" => "'",
                            other => return Err(format!("entity &{other}; is not XML")),
                        }
                        .to_string()
                    }
                };
                out.text.push_str(&ch);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{depth} element(s) left open at the end"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(out)
}

#[test]
fn the_xml_check_rejects_what_it_should() {
    assert!(parse_xml("<p>ok &amp; fine &#160;</p>").is_ok());
    for bad in [
        "<p>a & b</p>",
        "<p><b>x</p></b>",
        "<p>",
        "<p><br></p>",
        "<p>&nbsp;</p>",
        "<p a=\"1\" a=\"2\"/>",
        "<p/><p/>",
    ] {
        assert!(parse_xml(bad).is_err(), "accepted {bad}");
    }
}
