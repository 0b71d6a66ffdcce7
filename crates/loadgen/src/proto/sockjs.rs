//! SockJS framing and addressing (sockjs-protocol 0.3.3), without I/O, so
//! that what a misbehaving server can make the generator do is decided, and
//! tested, here: every frame is parsed whole or refused with a counted kind,
//! and a streaming answer is held at most [`Lines`]'s limit at a time.
//!
//! A SockJS server talks in frames: `o` (the session is open), `h`
//! (heartbeat), `a[...]` (a JSON array of messages) and `c[code,"reason"]`
//! (the session is closed; a client must open a new one). Over WebSocket a
//! frame is a text message; over xhr-streaming and xhr-polling frames end
//! with `\n`, and xhr-streaming starts with a 2,048-`h` prelude (for old
//! proxies that buffer the first 2 KiB). The client sends messages as a
//! JSON array of strings: the body of `POST .../xhr_send`, or a WebSocket
//! text message.

use std::borrow::Cow;

use crate::config::plan::Target;
use crate::config::template::Vars;
use crate::core::error::Kind;

/// A frame that is not one of the four, or whose JSON does not parse.
pub(crate) const BAD_FRAME: Kind = Cow::Borrowed("sockjs_bad_frame");
/// A frame (a streaming line) longer than the limit.
pub(crate) const TOO_LARGE: Kind = Cow::Borrowed("sockjs_frame_too_large");

/// One server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// `o`: the session is open.
    Open,
    /// `h` (or the xhr-streaming prelude).
    Heartbeat,
    /// `a[...]`: messages; a message that is not a JSON string is kept as
    /// its JSON text (SockJS clients hand on any JSON value).
    Messages(Vec<String>),
    /// `c[code,"reason"]`: the session is over.
    Close { code: i64, reason: String },
}

impl Frame {
    /// The error kind a close frame is counted as: `sockjs_closed_<code>`.
    pub fn close_kind(code: i64) -> Kind {
        Cow::Owned(format!("sockjs_closed_{code}"))
    }
}

/// Parses one frame (no trailing newline).
pub(crate) fn parse(text: &str) -> Result<Frame, Kind> {
    let Some(first) = text.bytes().next() else {
        return Err(BAD_FRAME);
    };
    match first {
        b'o' if text.len() == 1 => Ok(Frame::Open),
        // `h`, or the xhr-streaming prelude (2,048 of them).
        b'h' if text.bytes().all(|b| b == b'h') => Ok(Frame::Heartbeat),
        b'a' => {
            let values: Vec<serde_json::Value> =
                serde_json::from_str(&text[1..]).map_err(|_| BAD_FRAME)?;
            Ok(Frame::Messages(
                values
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect(),
            ))
        }
        b'c' => {
            let (code, reason): (i64, String) =
                serde_json::from_str(&text[1..]).map_err(|_| BAD_FRAME)?;
            Ok(Frame::Close { code, reason })
        }
        _ => Err(BAD_FRAME),
    }
}

/// Splits newline-terminated frames (xhr-streaming answers, xhr-polling
/// bodies) out of chunks as they arrive; a frame may span chunks. At most
/// `max` bytes of one frame are held.
#[derive(Debug)]
pub(crate) struct Lines {
    buf: Vec<u8>,
    max: usize,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines {
            buf: Vec::new(),
            max,
        }
    }

    /// Parses every frame `data` completes into `out`. Empty lines are
    /// skipped. After an error the stream is unusable.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<Frame>) -> Result<(), Kind> {
        while !data.is_empty() {
            let (part, rest, complete) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            if self.buf.len() + part.len() > self.max {
                return Err(TOO_LARGE);
            }
            self.buf.extend_from_slice(part);
            data = rest;
            if complete {
                self.finish_line(out)?;
            }
        }
        Ok(())
    }

    /// Parses what is left without a final newline (the end of a polling
    /// body), if anything.
    pub fn end(&mut self, out: &mut Vec<Frame>) -> Result<(), Kind> {
        self.finish_line(out)
    }

    /// Bytes of an unfinished frame held.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buf.len()
    }

    fn finish_line(&mut self, out: &mut Vec<Frame>) -> Result<(), Kind> {
        let line = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
        if !line.is_empty() {
            let text = std::str::from_utf8(line).map_err(|_| BAD_FRAME)?;
            out.push(parse(text)?);
        }
        self.buf.clear();
        Ok(())
    }
}

/// What a client sends: `msgs` as a JSON array of strings.
pub(crate) fn encode(msgs: &[&str]) -> String {
    serde_json::to_string(msgs).unwrap_or_else(|_| "[]".into())
}

/// What `GET <prefix>/info` says that the client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Info {
    /// The WebSocket transport is enabled (`"websocket": false` turns it off).
    pub websocket: bool,
}

/// Parses an `/info` answer: a JSON object; a missing `websocket` field is
/// taken as `true` (servers before the field existed had it on).
pub(crate) fn info(body: &[u8]) -> Result<Info, Kind> {
    let bad = || Cow::Borrowed("sockjs_bad_info");
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad())?;
    let obj = v.as_object().ok_or_else(bad)?;
    let websocket = match obj.get("websocket") {
        None => true,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => return Err(bad()),
    };
    Ok(Info { websocket })
}

/// Where a session's requests go, derived from the prefix's path (and
/// query, which every request keeps).
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// The prefix path without a trailing `/`.
    prefix: String,
    /// `?query` of the prefix URL, or empty.
    query: String,
}

impl Paths {
    /// The paths of one connection (placeholders of `--url` filled in).
    pub fn of(target: &Target, vars: &Vars<'_>) -> Paths {
        let url = target.url_for(vars);
        Paths::new(url.path(), url.query())
    }

    /// From the prefix URL's path and query.
    pub fn new(path: &str, query: Option<&str>) -> Paths {
        Paths {
            prefix: path.trim_end_matches('/').to_owned(),
            query: query.map(|q| format!("?{q}")).unwrap_or_default(),
        }
    }

    /// `<prefix>/info`.
    pub fn info(&self) -> String {
        format!("{}/info{}", self.prefix, self.query)
    }

    /// `<prefix>/<server>/<session>/<transport>`.
    pub fn session(&self, id: &SessionId, transport: &str) -> String {
        format!(
            "{}/{}/{}/{transport}{}",
            self.prefix, id.server, id.session, self.query
        )
    }
}

/// The `ws://` (`wss://`) URL of a session's WebSocket on `target`.
pub(crate) fn ws_url(target: &Target, vars: &Vars<'_>, id: &SessionId) -> String {
    let scheme = if target.url.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    let path = Paths::of(target, vars).session(id, "websocket");
    format!("{scheme}://{}{path}", target.authority)
}

/// A session's address: a random server id of 3 digits (for load
/// balancers that route on it) and a random session id, as sockjs-client
/// draws them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionId {
    pub server: String,
    pub session: String,
}

impl SessionId {
    /// A fresh random one.
    pub fn random() -> SessionId {
        use rand::Rng as _;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz012345";
        let mut rng = rand::rng();
        let session = (0..8)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        SessionId {
            server: format!("{:03}", rng.random_range(0..1000)),
            session,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_frames_parse_and_garbage_is_refused() {
        assert_eq!(parse("o"), Ok(Frame::Open));
        assert_eq!(parse("h"), Ok(Frame::Heartbeat));
        assert_eq!(parse(&"h".repeat(2048)), Ok(Frame::Heartbeat));
        assert_eq!(
            parse(r#"a["x","~pp1 \"q\"",{"k":1}]"#),
            Ok(Frame::Messages(vec![
                "x".into(),
                "~pp1 \"q\"".into(),
                r#"{"k":1}"#.into()
            ]))
        );
        assert_eq!(
            parse(r#"c[3000,"Go away!"]"#),
            Ok(Frame::Close {
                code: 3000,
                reason: "Go away!".into()
            })
        );
        for bad in [
            "",
            "oo",
            "x",
            "a",
            "a[",
            "a{\"x\":1}",
            "c[]",
            "c[1]",
            "c\"x\"",
            "hx",
            "ah",
        ] {
            assert_eq!(parse(bad), Err(BAD_FRAME), "{bad:?}");
        }
        assert_eq!(Frame::close_kind(2010), "sockjs_closed_2010");
    }

    #[test]
    fn streamed_frames_may_span_reads() {
        let stream = format!(
            "{}\no\na[\"one\",\"t\\nwo\"]\nh\nc[3000,\"bye\"]\n",
            "h".repeat(2048)
        );
        // Every split point, including inside the prelude and inside JSON.
        for cut in 0..stream.len() {
            let mut lines = Lines::new(4096);
            let mut out = Vec::new();
            lines.feed(&stream.as_bytes()[..cut], &mut out).unwrap();
            lines.feed(&stream.as_bytes()[cut..], &mut out).unwrap();
            assert_eq!(
                out,
                vec![
                    Frame::Heartbeat,
                    Frame::Open,
                    Frame::Messages(vec!["one".into(), "t\nwo".into()]),
                    Frame::Heartbeat,
                    Frame::Close {
                        code: 3000,
                        reason: "bye".into()
                    },
                ],
                "cut at {cut}"
            );
            assert_eq!(lines.held(), 0);
        }
        // One byte at a time.
        let mut lines = Lines::new(4096);
        let mut out = Vec::new();
        for b in stream.as_bytes() {
            lines.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn a_polling_body_may_lack_its_last_newline() {
        let mut lines = Lines::new(64);
        let mut out = Vec::new();
        lines.feed(b"a[\"x\"]\r\n\na[\"y\"]", &mut out).unwrap();
        assert_eq!(out.len(), 1);
        lines.end(&mut out).unwrap();
        assert_eq!(out[1], Frame::Messages(vec!["y".into()]));
        lines.end(&mut out).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn oversized_and_non_utf8_frames_are_refused_bounded() {
        let mut lines = Lines::new(100);
        let mut out = Vec::new();
        // A server that never sends a newline: refused once past the limit,
        // having held no more than it.
        assert!(lines.feed(&[b'a'; 60], &mut out).is_ok());
        assert_eq!(lines.feed(&[b'a'; 60], &mut out), Err(TOO_LARGE));
        assert!(lines.held() <= 100);
        let mut lines = Lines::new(100);
        assert_eq!(lines.feed(b"a[\"\xff\"]\n", &mut out), Err(BAD_FRAME));
    }

    #[test]
    fn sends_are_json_arrays_and_info_is_read() {
        assert_eq!(encode(&["a\"b", "~pp1"]), r#"["a\"b","~pp1"]"#);
        assert_eq!(
            info(br#"{"websocket":true,"origins":["*:*"],"cookie_needed":false,"entropy":1}"#),
            Ok(Info { websocket: true })
        );
        assert_eq!(
            info(br#"{"websocket":false}"#),
            Ok(Info { websocket: false })
        );
        assert_eq!(info(b"{}"), Ok(Info { websocket: true }));
        for bad in [&b"<html>"[..], b"[]", br#"{"websocket":"no"}"#] {
            assert_eq!(info(bad), Err(Cow::Borrowed("sockjs_bad_info")));
        }
    }

    #[test]
    fn session_paths_keep_the_prefix_and_query() {
        let id = SessionId {
            server: "042".into(),
            session: "abcd1234".into(),
        };
        let p = Paths::new("/chat/", None);
        assert_eq!(p.info(), "/chat/info");
        assert_eq!(p.session(&id, "xhr"), "/chat/042/abcd1234/xhr");
        let p = Paths::new("/", Some("t=1"));
        assert_eq!(p.info(), "/info?t=1");
        assert_eq!(p.session(&id, "websocket"), "/042/abcd1234/websocket?t=1");
        let r = SessionId::random();
        assert_eq!(r.server.len(), 3);
        assert!(r.server.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(r.session.len(), 8);
        assert_ne!(SessionId::random(), SessionId::random());
    }
}
