//! Texts the generator fills in per connection and per message: the
//! `--on-connect` steps a server wants before it relays anything (a join, a
//! subscribe, an auth frame), the `--publish-template` a message must be
//! wrapped in (JSON of the server's own), and the URL paths and header
//! values that differ per connection (a room in the path, a user's token).
//!
//! A placeholder is `{name}` with a name of lowercase letters, digits, `_`
//! and `.`; any other brace is literal text, so a JSON template needs no
//! escaping: `{"type":"say","text":"{marker}"}` has one placeholder. Names
//! are checked when the options are read, so a typo is an error before the
//! run, naming the option.

use crate::config::users::Users;
use crate::core::error::LoadError;

/// What a template may refer to, known when the options are read: whether
/// `{marker}` is allowed (only in a message) and the `--users` columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// `{marker}` may appear (`--publish-template` only).
    pub marker: bool,
    /// The `--users` file, whose columns `{user.COLUMN}` names.
    pub users: Option<&'a Users>,
}

/// One connection's values: what its placeholders render to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vars<'a> {
    /// The connection's run-wide index: subscribers `0..S`, publishers
    /// `S..S+P`.
    pub id: usize,
    /// Its room (`--rooms`; 0 without rooms).
    pub room: usize,
    /// The `--users` rows; connection `id` uses data row `id`.
    pub users: Option<&'a Users>,
}

impl Vars<'_> {
    /// Connection 0's values: what stands for every connection in messages
    /// and checks.
    pub fn first(users: Option<&Users>) -> Vars<'_> {
        Vars {
            id: 0,
            room: 0,
            users,
        }
    }
}

/// A piece of a text as [`scan`] splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'t> {
    /// Literal text (braces that are not placeholders included).
    Text(&'t str),
    /// A placeholder's name, without its braces.
    Name(&'t str),
}

/// Splits `text` into literal text and `{name}` placeholders: a name is
/// lowercase letters, digits, `_` and `.`; any other brace is literal.
pub(crate) fn scan(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut at = 0;
    while let Some(open) = text[at..].find('{').map(|i| at + i) {
        let after = &text[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
            .unwrap_or(after.len());
        if name_len == 0 || !after[name_len..].starts_with('}') {
            at = open + 1;
            continue;
        }
        if open > literal_start {
            pieces.push(Piece::Text(&text[literal_start..open]));
        }
        pieces.push(Piece::Name(&after[..name_len]));
        at = open + 1 + name_len + 1;
        literal_start = at;
    }
    if literal_start < text.len() {
        pieces.push(Piece::Text(&text[literal_start..]));
    }
    pieces
}

/// One part of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// `{id}`: the connection's index (subscribers `0..S`, publishers
    /// `S..S+P`).
    Id,
    /// `{room}`: the connection's room (`--rooms`).
    Room,
    /// `{user.COLUMN}`: a column of the connection's `--users` row (its
    /// index among the file's columns).
    User(usize),
    /// `{marker}`: the message's payload (its marker, padded).
    Marker,
}

/// A text with placeholders, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// Placeholders this version fills in, for error messages.
const KNOWN: &str = "{id} (the connection's index), {room} (its room), {user.COLUMN} (a column of --users) and {marker} (the message, in --publish-template)";

impl Template {
    /// Parses `text` given with `option`; `scope` says which placeholders
    /// may appear.
    pub fn parse(
        option: &'static str,
        text: &str,
        scope: Scope<'_>,
    ) -> Result<Template, LoadError> {
        let bad = |reason: String| LoadError::InvalidOption { option, reason };
        let mut parts = Vec::new();
        for piece in scan(text) {
            let name = match piece {
                Piece::Text(t) => {
                    parts.push(Part::Text(t.to_owned()));
                    continue;
                }
                Piece::Name(n) => n,
            };
            let part = match name {
                "id" => Part::Id,
                "room" => Part::Room,
                "marker" if scope.marker => Part::Marker,
                "marker" => {
                    return Err(bad(format!(
                        "{{marker}} is only filled in --publish-template (a message's payload); {text:?} uses it"
                    )))
                }
                _ if name.starts_with("user.") => {
                    let column = &name["user.".len()..];
                    let Some(users) = scope.users else {
                        return Err(bad(format!(
                            "{{{name}}} in {text:?} needs --users FILE.csv, whose column {column:?} it fills in"
                        )));
                    };
                    match users.column(column) {
                        Some(i) => Part::User(i),
                        None => {
                            return Err(bad(format!(
                                "{{{name}}} in {text:?}: {} has no column {column:?} (its columns: {})",
                                users.path().display(),
                                users.columns().join(", ")
                            )))
                        }
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "unknown placeholder {{{name}}} in {text:?}; known: {KNOWN}"
                    )))
                }
            };
            parts.push(part);
        }
        Ok(Template { parts })
    }

    /// Whether `{marker}` appears.
    pub fn has_marker(&self) -> bool {
        self.parts.contains(&Part::Marker)
    }

    /// The text for one connection (and the message `marker`, if any).
    pub fn render(&self, vars: &Vars<'_>, marker: &str) -> String {
        let mut out = String::new();
        self.render_into(vars, marker, &mut out);
        out
    }

    /// As [`render`](Self::render), appending to `out`.
    pub fn render_into(&self, vars: &Vars<'_>, marker: &str, out: &mut String) {
        use std::fmt::Write;
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Id => {
                    let _ = write!(out, "{}", vars.id);
                }
                Part::Room => {
                    let _ = write!(out, "{}", vars.room);
                }
                // Rows were checked against the connections before the run.
                Part::User(c) => out.push_str(vars.users.map_or("", |u| u.get(vars.id, *c))),
                Part::Marker => out.push_str(marker),
            }
        }
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
    pub fn parse(raw: &str, users: Option<&Users>) -> Result<Step, LoadError> {
        let scope = Scope {
            marker: false,
            users,
        };
        if let Some(t) = raw.strip_prefix("send:") {
            return Ok(Step::Send(Template::parse("on-connect", t, scope)?));
        }
        if let Some(t) = raw.strip_prefix("expect:") {
            if t.is_empty() {
                return Err(LoadError::InvalidOption {
                    option: "on-connect",
                    reason: "expect: needs the text to wait for, e.g. expect:joined".into(),
                });
            }
            return Ok(Step::Expect(Template::parse("on-connect", t, scope)?));
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

    const MSG: Scope<'static> = Scope {
        marker: true,
        users: None,
    };
    const STEP: Scope<'static> = Scope {
        marker: false,
        users: None,
    };

    fn vars(id: usize, room: usize) -> Vars<'static> {
        Vars {
            id,
            room,
            users: None,
        }
    }

    #[test]
    fn json_braces_are_literal_and_placeholders_fill_in() {
        let t = Template::parse(
            "publish-template",
            r#"{"type":"say","to":{id},"room":"r{room}","text":"{marker}"}"#,
            MSG,
        )
        .unwrap();
        assert!(t.has_marker());
        assert_eq!(
            t.render(&vars(7, 2), "~pp1.x~"),
            r#"{"type":"say","to":7,"room":"r2","text":"~pp1.x~"}"#
        );
        let t = Template::parse("on-connect", "{ }{}{id", STEP).unwrap();
        assert_eq!(t.render(&vars(1, 0), ""), "{ }{}{id");
    }

    #[test]
    fn user_columns_render_the_connections_row() {
        let users = Users::parse("u.csv", "name,token\nann,t0\nbob,\"t,1\"\n").unwrap();
        let scope = Scope {
            marker: false,
            users: Some(&users),
        };
        let t = Template::parse("header", "Bearer {user.token} ({user.name})", scope).unwrap();
        let v = Vars {
            id: 1,
            room: 0,
            users: Some(&users),
        };
        assert_eq!(t.render(&v, ""), "Bearer t,1 (bob)");
        let e = Template::parse("header", "{user.secret}", scope)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("u.csv has no column \"secret\" (its columns: name, token)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_placeholders_and_misplaced_markers_are_named() {
        let e = Template::parse("publish-template", "{user.token}:{marker}", MSG)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "--publish-template: {user.token} in \"{user.token}:{marker}\" needs --users"
            ),
            "{e}"
        );
        let e = Template::parse("url", "/r/{rooms}", STEP)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--url: unknown placeholder {rooms}"), "{e}");
        let e = Step::parse("send:{marker}", None).unwrap_err().to_string();
        assert!(e.contains("only filled in --publish-template"), "{e}");
        let e = Step::parse("join", None).unwrap_err().to_string();
        assert!(
            e.starts_with("--on-connect: expected send:TEXT or expect:TEXT"),
            "{e}"
        );
        assert!(Step::parse("expect:", None).is_err());
        assert_eq!(
            Step::parse("expect:ok", None).unwrap(),
            Step::Expect(Template::parse("on-connect", "ok", STEP).unwrap())
        );
    }
}
