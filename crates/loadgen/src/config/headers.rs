//! Header profiles: which request headers the generator sends, so that a
//! poll costs on the wire what a browser's poll costs.
//!
//! A load generator that sends 60-byte requests flatters polling: every poll
//! a browser makes carries its `User-Agent`, `Accept*`, `Sec-Fetch-*`,
//! client hints, `Referer` and cookies. `--header-profile` picks the set:
//!
//! - `minimal`: what the generator always sent (a `User-Agent` and the
//!   `Accept` the transport needs), the lower bound.
//! - `browser`: what desktop Chromium sends to a same-origin API from a page
//!   that polls with `fetch(url, {cache: 'no-store'})`, as the chat page does,
//!   plus a session cookie; calibrated against the chat page's Chromium
//!   capture (`docs/chat.md`), documented byte for byte in `docs/headers.md`.
//! - a FILE: a captured header block, `Name: value` per line.
//!
//! Each profile renders per kind of request ([`RequestKind`]): a poll, an
//! `EventSource` stream, a WebSocket handshake and a publish differ in
//! `Accept`, `Sec-Fetch-*` and `Origin` exactly as a browser's do.
//! [`Profile::bytes`] is the declared size of those headers on the wire
//! (`name: value\r\n` each); the tests hold it to what the socket carries.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use http::{header, HeaderName, HeaderValue};

use crate::core::error::LoadError;

/// Largest header FILE read, bytes.
pub const MAX_PROFILE_FILE: u64 = 64 << 10;
/// Most headers a FILE may hold.
const MAX_PROFILE_HEADERS: usize = 64;
/// Most bytes a profile may add to one request.
const MAX_PROFILE_BYTES: usize = 16 << 10;

/// The `User-Agent` of the `minimal` profile.
pub(crate) const MINIMAL_USER_AGENT: &str = "pushpoll-loadgen";

/// Chromium's `User-Agent` (reduced UA string: minor versions are zeros).
const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36";
/// Chromium's low-entropy client hints.
const CHROME_CH_UA: &str =
    "\"Chromium\";v=\"142\", \"Google Chrome\";v=\"142\", \"Not_A Brand\";v=\"99\"";
/// A logged-in user's cookies on an app's own origin: a signed session
/// token and two analytics cookies (Google Analytics 4's `_ga` and its
/// per-property `_ga_<id>`), 215 bytes of value.
const SESSION_COOKIE: &str = "_ga=GA1.1.1384501287.1764057210; \
     _ga_7R2KQ4XJ1M=GS2.1.s1764057210$o3$g1$t1764059012$j60$l0$h0; \
     session=eyJ1aWQiOjQ3MTEsInJvbGUiOiJtZW1iZXIiLCJleHAiOjE3NjQwNjA4MTJ9.\
     Zq8h2m3vX1bC9kq7nR4tW0yE5uJ6pL2sD8fG1hK3jM4xQ7wV9aB";

/// Which header set requests carry (`--header-profile`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum HeaderProfile {
    /// The generator's own small set: a `User-Agent` and the `Accept` the
    /// transport needs.
    #[default]
    Minimal,
    /// Desktop Chromium polling a same-origin API, with a session cookie.
    Browser,
    /// A captured header block, one `Name: value` per line.
    File(PathBuf),
}

impl FromStr for HeaderProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minimal" => Ok(HeaderProfile::Minimal),
            "browser" => Ok(HeaderProfile::Browser),
            "" => Err("expected minimal, browser or the path of a header file".into()),
            path => Ok(HeaderProfile::File(PathBuf::from(path))),
        }
    }
}

impl std::fmt::Display for HeaderProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderProfile::Minimal => f.write_str("minimal"),
            HeaderProfile::Browser => f.write_str("browser"),
            HeaderProfile::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// What a request is for; a browser's headers differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A poll: `fetch()` of `/messages` (short or long).
    Poll,
    /// An `EventSource` stream.
    Stream,
    /// A WebSocket opening handshake (the headers beyond `Host`,
    /// `Connection`, `Upgrade` and `Sec-WebSocket-*`).
    WebSocket,
    /// A publish: `fetch()` with `POST` (beyond `Content-Type` and
    /// `Content-Length`).
    Publish,
}

/// A profile resolved for one target: the headers of each kind of request,
/// in the order they are written.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `minimal`, `browser` or `file:<path>`, as results name it.
    pub name: String,
    /// Whether the profile sends `Accept-Encoding`, so answers may come
    /// compressed and are decoded.
    pub accepts_encoding: bool,
    poll: Vec<(HeaderName, HeaderValue)>,
    stream: Vec<(HeaderName, HeaderValue)>,
    websocket: Vec<(HeaderName, HeaderValue)>,
    publish: Vec<(HeaderName, HeaderValue)>,
}

/// `name: value\r\n` bytes of a header list.
pub fn wire_bytes(headers: &[(HeaderName, HeaderValue)]) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum()
}

fn h(name: &'static str, value: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_str(value).expect("built-in header values are visible ASCII"),
    )
}

/// Replaces the value of `name`, or appends it.
fn set(list: &mut Vec<(HeaderName, HeaderValue)>, name: HeaderName, value: HeaderValue) {
    match list.iter_mut().find(|(n, _)| *n == name) {
        Some((_, v)) => *v = value,
        None => list.push((name, value)),
    }
}

impl Profile {
    /// Resolves `profile` for a page served at `origin` (`http://host:port`,
    /// which the browser profile's `Referer` and `Origin` name). A FILE is
    /// read and checked here.
    pub fn new(profile: &HeaderProfile, origin: &str) -> Result<Profile, LoadError> {
        let p = match profile {
            HeaderProfile::Minimal => Self::minimal(),
            HeaderProfile::Browser => Self::browser(origin),
            HeaderProfile::File(path) => Self::file(path)?,
        };
        for kind in [
            RequestKind::Poll,
            RequestKind::Stream,
            RequestKind::WebSocket,
            RequestKind::Publish,
        ] {
            let n = p.bytes(kind);
            if n > MAX_PROFILE_BYTES {
                return Err(LoadError::InvalidOption {
                    option: "header-profile",
                    reason: format!(
                        "the profile adds {n} bytes of headers to a request; at most {MAX_PROFILE_BYTES}"
                    ),
                });
            }
        }
        Ok(p)
    }

    /// The headers of one kind of request, in order.
    pub fn headers(&self, kind: RequestKind) -> &[(HeaderName, HeaderValue)] {
        match kind {
            RequestKind::Poll => &self.poll,
            RequestKind::Stream => &self.stream,
            RequestKind::WebSocket => &self.websocket,
            RequestKind::Publish => &self.publish,
        }
    }

    /// The bytes these headers take in an HTTP/1.1 request head.
    pub fn bytes(&self, kind: RequestKind) -> usize {
        wire_bytes(self.headers(kind))
    }

    /// Drops the profile's headers that `--header` sets itself, so the
    /// user's value wins instead of being sent twice.
    pub(crate) fn without(&mut self, names: &[HeaderName]) {
        for list in [
            &mut self.poll,
            &mut self.stream,
            &mut self.websocket,
            &mut self.publish,
        ] {
            list.retain(|(n, _)| !names.contains(n));
        }
    }

    fn minimal() -> Profile {
        let ua = h("user-agent", MINIMAL_USER_AGENT);
        Profile {
            name: "minimal".into(),
            accepts_encoding: false,
            poll: vec![ua.clone(), h("accept", "application/json")],
            stream: vec![
                ua.clone(),
                h("accept", "text/event-stream"),
                h("cache-control", "no-cache"),
            ],
            websocket: Vec::new(),
            publish: vec![ua],
        }
    }

    /// Chromium's headers, in Chromium's order, for a page at `origin`.
    fn browser(origin: &str) -> Profile {
        let referer = format!("{origin}/");
        let poll = vec![
            h("connection", "keep-alive"),
            h("pragma", "no-cache"),
            h("cache-control", "no-cache"),
            h("sec-ch-ua-platform", "\"Linux\""),
            h("user-agent", CHROME_UA),
            h("sec-ch-ua", CHROME_CH_UA),
            h("sec-ch-ua-mobile", "?0"),
            h("accept", "*/*"),
            h("sec-fetch-site", "same-origin"),
            h("sec-fetch-mode", "cors"),
            h("sec-fetch-dest", "empty"),
            h("referer", &referer),
            h("accept-encoding", "gzip, deflate, br, zstd"),
            h("accept-language", "en-US,en;q=0.9"),
            h("cookie", SESSION_COOKIE),
        ];
        // EventSource: no Pragma, its own Accept.
        let stream = vec![
            h("connection", "keep-alive"),
            h("sec-ch-ua-platform", "\"Linux\""),
            h("cache-control", "no-cache"),
            h("user-agent", CHROME_UA),
            h("accept", "text/event-stream"),
            h("sec-ch-ua", CHROME_CH_UA),
            h("sec-ch-ua-mobile", "?0"),
            h("sec-fetch-site", "same-origin"),
            h("sec-fetch-mode", "cors"),
            h("sec-fetch-dest", "empty"),
            h("referer", &referer),
            h("accept-encoding", "gzip, deflate, br, zstd"),
            h("accept-language", "en-US,en;q=0.9"),
            h("cookie", SESSION_COOKIE),
        ];
        // The WebSocket handshake beyond what the handshake itself sets.
        // Chromium also offers `Sec-WebSocket-Extensions: permessage-deflate;
        // client_max_window_bits`; the generator offers it only with
        // `--ws-deflate` (`crate::proto::deflate`), as the offer changes the bytes.
        let websocket = vec![
            h("pragma", "no-cache"),
            h("cache-control", "no-cache"),
            h("user-agent", CHROME_UA),
            h("origin", origin),
            h("accept-encoding", "gzip, deflate, br, zstd"),
            h("accept-language", "en-US,en;q=0.9"),
            h("cookie", SESSION_COOKIE),
        ];
        // A same-origin POST also names its Origin.
        let mut publish = poll.clone();
        publish.insert(8, h("origin", origin));
        Profile {
            name: "browser".into(),
            accepts_encoding: true,
            poll,
            stream,
            websocket,
            publish,
        }
    }

    fn file(path: &Path) -> Result<Profile, LoadError> {
        let bad = |reason: String| LoadError::InvalidOption {
            option: "header-profile",
            reason: format!("{}: {reason}", path.display()),
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        if meta.len() > MAX_PROFILE_FILE {
            return Err(bad(format!(
                "{} bytes; a header file may hold at most {MAX_PROFILE_FILE}",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(format!("cannot read it as UTF-8 text: {e}")))?;
        let poll = parse_block(&text).map_err(bad)?;
        let mut stream = poll.clone();
        set(
            &mut stream,
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        // A handshake's `Connection` is the handshake's own.
        let websocket: Vec<_> = poll
            .iter()
            .filter(|(n, _)| *n != header::CONNECTION)
            .cloned()
            .collect();
        Ok(Profile {
            name: format!("file:{}", path.display()),
            accepts_encoding: poll.iter().any(|(n, _)| *n == header::ACCEPT_ENCODING),
            publish: poll.clone(),
            poll,
            stream,
            websocket,
        })
    }
}

/// Headers a FILE may not set: the generator writes them itself.
const FILE_RESERVED: [(&str, &str); 10] = [
    ("content-length", "the generator frames bodies itself"),
    ("transfer-encoding", "the generator frames bodies itself"),
    ("content-type", "publishers set it"),
    ("keep-alive", "the generator manages connections"),
    ("te", "the generator manages connections"),
    ("upgrade", "the WebSocket handshake sets it"),
    ("sec-websocket-key", "the WebSocket handshake sets it"),
    ("sec-websocket-version", "the WebSocket handshake sets it"),
    (
        "sec-websocket-extensions",
        "the generator cannot decode WebSocket extensions",
    ),
    ("sec-websocket-protocol", "use --subprotocol"),
];

/// Parses a captured header block: `Name: value` per line. Skipped: blank
/// lines, `#` comments, a leading request line (`GET /x HTTP/1.1`), `Host`
/// (the generator's comes from the URL) and HTTP/2 pseudo-headers
/// (`:authority`, as browsers' developer tools show them). `Connection`
/// may only say `keep-alive` or `close`.
pub fn parse_block(text: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with(':') {
            continue;
        }
        if i == 0 && line.contains(" HTTP/") && !line.contains(": ") {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("line {n} is not `Name: value` (got {line:?})"));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("line {n}: {:?} is not a valid header name", name.trim()))?;
        if name == header::HOST {
            continue;
        }
        if let Some((_, why)) = FILE_RESERVED.iter().find(|(r, _)| *r == name.as_str()) {
            return Err(format!(
                "line {n}: {name} cannot come from a header file: {why}"
            ));
        }
        let value = HeaderValue::from_str(value.trim()).map_err(|_| {
            format!("line {n}: the value of {name} has characters a header cannot carry")
        })?;
        if name == header::CONNECTION
            && !matches!(value.as_bytes(), b"keep-alive" | b"close" | b"Keep-Alive")
        {
            return Err(format!(
                "line {n}: Connection may only be keep-alive or close in a header file"
            ));
        }
        out.push((name, value));
        if out.len() > MAX_PROFILE_HEADERS {
            return Err(format!("more than {MAX_PROFILE_HEADERS} headers"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_profile_sizes_are_stable() {
        // docs/headers.md gives these numbers; change both together.
        let p = Profile::new(&HeaderProfile::Browser, "http://127.0.0.1:8080").unwrap();
        assert_eq!(p.bytes(RequestKind::Poll), 731);
        assert_eq!(p.bytes(RequestKind::Stream), 727);
        assert_eq!(p.bytes(RequestKind::WebSocket), 489);
        assert_eq!(p.bytes(RequestKind::Publish), 762);
        let m = Profile::new(&HeaderProfile::Minimal, "http://127.0.0.1:8080").unwrap();
        assert_eq!(m.bytes(RequestKind::Poll), 56);
        assert_eq!(m.bytes(RequestKind::Stream), 82);
        assert_eq!(m.bytes(RequestKind::WebSocket), 0);
        assert_eq!(m.bytes(RequestKind::Publish), 30);
    }

    #[test]
    fn blocks_parse_and_refuse_clearly() {
        let block = "GET /messages?since=3 HTTP/1.1\r\nHost: example.org\r\n:authority: x\r\n\
                     # comment\r\nAccept: */*\r\nCookie: a=b\r\n\r\n";
        let h = parse_block(block).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(wire_bytes(&h), "accept: */*\r\ncookie: a=b\r\n".len());
        assert!(parse_block("Content-Length: 3")
            .unwrap_err()
            .contains("content-length"));
        assert!(parse_block("no colon").unwrap_err().contains("line 1"));
        assert!(parse_block("Connection: Upgrade")
            .unwrap_err()
            .contains("Connection"));
    }
}
