//! Texts the generator fills in per connection and per message: the
//! `--on-connect` steps a server wants before it relays anything (a join, a
//! subscribe, an auth frame) and the `--publish-template` a message must be
//! wrapped in (JSON of the server's own).
//!
//! A placeholder is `{name}` with a name of lowercase letters, digits, `_`
//! and `.`; any other brace is literal text, so a JSON template needs no
//! escaping: `{"type":"say","text":"{marker}"}` has one placeholder. Names
//! are checked when the options are read, so a typo is an error before the
//! run, naming the option.

use crate::core::error::LoadError;

/// One part of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `{id}`: the connection's index (subscribers `0..S`, publishers
    /// `S..S+P`).
    Id,
    /// `{marker}`: the message's payload (its marker, padded).
    Marker,
}

/// A text with placeholders, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// Placeholders this version fills in, for error messages.
const KNOWN: &str =
    "{id} (the connection's index) and {marker} (the message, in --publish-template)";

impl Template {
    /// Parses `text` given with `option`; `marker` says whether `{marker}`
    /// may appear (only a message has one).
    pub fn parse(option: &'static str, text: &str, marker: bool) -> Result<Template, LoadError> {
        let bad = |reason: String| LoadError::InvalidOption { option, reason };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let name_len = after
                .find(|c: char| {
                    !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
                })
                .unwrap_or(after.len());
            let closes = after[name_len..].starts_with('}');
            if name_len == 0 || !closes {
                // Not a placeholder: a literal brace (JSON, say).
                literal.push_str(&rest[..open + 1]);
                rest = after;
                continue;
            }
            literal.push_str(&rest[..open]);
            let name = &after[..name_len];
            let part = match name {
                "id" => Part::Id,
                "marker" if marker => Part::Marker,
                "marker" => {
                    return Err(bad(format!(
                        "{{marker}} is only filled in --publish-template (a message's payload); {text:?} uses it"
                    )))
                }
                _ => {
                    return Err(bad(format!(
                        "unknown placeholder {{{name}}} in {text:?}; known: {KNOWN}"
                    )))
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &after[name_len + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Whether `{marker}` appears.
    pub fn has_marker(&self) -> bool {
        self.parts.contains(&Part::Marker)
    }

    /// The text for connection `id` (and the message `marker`, if any).
    pub fn render(&self, id: usize, marker: &str) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Id => out.push_str(&id.to_string()),
                Part::Marker => out.push_str(marker),
            }
        }
        out
    }
}

/// One `--on-connect` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this text frame.
    Send(Template),
    /// Wait (within `--timeout`) for a frame from the server containing
    /// this text.
    Expect(Template),
}

impl Step {
    /// Parses `send:TEXT` or `expect:TEXT`.
    pub fn parse(raw: &str) -> Result<Step, LoadError> {
        if let Some(t) = raw.strip_prefix("send:") {
            return Ok(Step::Send(Template::parse("on-connect", t, false)?));
        }
        if let Some(t) = raw.strip_prefix("expect:") {
            if t.is_empty() {
                return Err(LoadError::InvalidOption {
                    option: "on-connect",
                    reason: "expect: needs the text to wait for, e.g. expect:joined".into(),
                });
            }
            return Ok(Step::Expect(Template::parse("on-connect", t, false)?));
        }
        Err(LoadError::InvalidOption {
            option: "on-connect",
            reason: format!(
                "expected send:TEXT or expect:TEXT, got {raw:?} (for example --on-connect 'send:{{\"join\":\"lobby\"}}' --on-connect expect:joined)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_braces_are_literal_and_placeholders_fill_in() {
        let t = Template::parse(
            "publish-template",
            r#"{"type":"say","to":{id},"text":"{marker}"}"#,
            true,
        )
        .unwrap();
        assert!(t.has_marker());
        assert_eq!(
            t.render(7, "~pp1.x~"),
            r#"{"type":"say","to":7,"text":"~pp1.x~"}"#
        );
        let t = Template::parse("on-connect", "{ }{}{id", false).unwrap();
        assert_eq!(t.render(1, ""), "{ }{}{id");
    }

    #[test]
    fn unknown_placeholders_and_misplaced_markers_are_named() {
        let e = Template::parse("publish-template", "{user.token}:{marker}", true)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--publish-template: unknown placeholder {user.token}"),
            "{e}"
        );
        let e = Step::parse("send:{marker}").unwrap_err().to_string();
        assert!(e.contains("only filled in --publish-template"), "{e}");
        let e = Step::parse("join").unwrap_err().to_string();
        assert!(
            e.starts_with("--on-connect: expected send:TEXT or expect:TEXT"),
            "{e}"
        );
        assert!(Step::parse("expect:").is_err());
        assert_eq!(
            Step::parse("expect:ok").unwrap(),
            Step::Expect(Template::parse("on-connect", "ok", false).unwrap())
        );
    }
}
