//! Server-Sent Events: how pushpoll writes them and an incremental parser
//! that follows the HTML standard's event-stream rules.
//!
//! Each message is one event whose `id:` is its sequence number, so a browser's
//! `EventSource` resumes by itself with `Last-Event-ID`. A text payload with
//! line feeds becomes several `data:` lines (the standard joins them back with
//! `\n`). SSE normalises carriage returns away, so text containing `\r` and
//! every binary payload travel base64-encoded under an event name that says so.

use base64::Engine as _;

use crate::Kind;

/// Event name of a binary message (data is base64).
pub const EVENT_BINARY: &str = "binary";
/// Event name of a text message that contains `\r` (data is base64 of the UTF-8 text).
pub const EVENT_TEXT_BASE64: &str = "text-base64";
/// Event name of a gap notice (data is JSON: `requested_since`, `oldest_seq`, `last_seq`).
pub const EVENT_GAP: &str = "gap";

/// Appends one message event to `out`.
pub fn write_message(out: &mut Vec<u8>, seq: u64, kind: Kind, payload: &[u8]) {
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.push(b'\n');
    let text = match kind {
        Kind::Text => std::str::from_utf8(payload)
            .ok()
            .filter(|t| !t.contains('\r')),
        Kind::Binary => None,
    };
    match text {
        Some(text) => {
            for line in text.split('\n') {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
        None => {
            let name = if kind == Kind::Binary || std::str::from_utf8(payload).is_err() {
                EVENT_BINARY
            } else {
                EVENT_TEXT_BASE64
            };
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\ndata: ");
            let start = out.len();
            let len = base64::encoded_len(payload.len(), true).expect("payload fits in memory");
            out.resize(start + len, 0);
            base64::engine::general_purpose::STANDARD
                .encode_slice(payload, &mut out[start..])
                .expect("buffer sized by encoded_len");
            out.push(b'\n');
        }
    }
    out.push(b'\n');
}

/// Appends a gap notice.
pub fn write_gap(out: &mut Vec<u8>, requested_since: u64, oldest_seq: u64, last_seq: u64) {
    out.extend_from_slice(
        format!(
            "event: {EVENT_GAP}\ndata: {{\"requested_since\":{requested_since},\"oldest_seq\":{oldest_seq},\"last_seq\":{last_seq}}}\n\n"
        )
        .as_bytes(),
    );
}

/// Appends a comment line (ignored by clients; used for keep-alives and the
/// opening `: pushpoll last_seq=N`).
pub fn write_comment(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b": ");
    out.extend_from_slice(text.replace(['\r', '\n'], " ").as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field, empty for the default `message` type.
    pub event: String,
    /// The joined `data:` lines.
    pub data: String,
    /// The last event id in force when this event was dispatched.
    pub id: Option<String>,
}

impl Event {
    /// The payload of a pushpoll message event, decoded by event name.
    /// Events of other servers are treated as text.
    pub fn payload(&self) -> Result<(Kind, Vec<u8>), SseError> {
        let b64 = || {
            base64::engine::general_purpose::STANDARD
                .decode(self.data.as_bytes())
                .map_err(|_| SseError::BadBase64)
        };
        match self.event.as_str() {
            EVENT_BINARY => Ok((Kind::Binary, b64()?)),
            EVENT_TEXT_BASE64 => Ok((Kind::Text, b64()?)),
            _ => Ok((Kind::Text, self.data.clone().into_bytes())),
        }
    }

    /// The event id as a pushpoll sequence number, if it is one.
    pub fn seq(&self) -> Option<u64> {
        self.id.as_deref().and_then(|id| id.parse().ok())
    }
}

/// Why an event could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// The data of a base64 event was not base64.
    #[error("SSE event data is not valid base64")]
    BadBase64,
    /// A single line grew past the parser's limit.
    #[error("SSE line longer than {0} bytes")]
    LineTooLong(usize),
}

/// The UTF-8 byte-order mark a stream may start with (the standard skips it).
const BOM: &[u8] = "\u{feff}".as_bytes();
/// [`Parser::bom`] once the start of the stream is behind.
const BOM_DONE: u8 = u8::MAX;

/// Incremental `text/event-stream` parser: feed it bytes as they arrive, in
/// chunks of any size, and it returns complete events.
#[derive(Debug)]
pub struct Parser {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// Bytes of a leading byte-order mark matched so far ([`BOM_DONE`] once
    /// the stream is past where one may be), so a BOM cut across chunks is
    /// still skipped.
    bom: u8,
    event: String,
    data: String,
    has_data: bool,
    /// The standard's "last event ID buffer": set by an `id:` line.
    id_buffer: Option<String>,
    /// The standard's "last event ID string": the buffer as of the last
    /// dispatch (a blank line). A stream cut between an event's `id:` line
    /// and its end must not move it, or a reconnect would skip that event.
    last_id: Option<String>,
    max_line: usize,
}

impl Parser {
    /// A parser that rejects lines longer than `max_line` bytes, so a hostile
    /// stream cannot make it buffer without bound.
    pub fn new(max_line: usize) -> Self {
        Parser {
            line: Vec::new(),
            after_cr: false,
            bom: 0,
            event: String::new(),
            data: String::new(),
            has_data: false,
            id_buffer: None,
            last_id: None,
            max_line,
        }
    }

    /// The id in force at the last complete event (what a client sends as
    /// `Last-Event-ID`): an `id:` line counts only once its event has ended.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Feeds a chunk; complete events are pushed to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Event>) -> Result<(), SseError> {
        // An empty chunk changes nothing (and must not end a pending `\r\n`).
        if chunk.is_empty() {
            return Ok(());
        }
        if self.bom != BOM_DONE {
            let matched = usize::from(self.bom);
            let n = chunk.len().min(BOM.len() - matched);
            if chunk[..n] == BOM[matched..matched + n] {
                chunk = &chunk[n..];
                if matched + n < BOM.len() {
                    self.bom = (matched + n) as u8;
                    return Ok(());
                }
            } else {
                // Not a BOM after all: the bytes held back start the first line.
                self.line.extend_from_slice(&BOM[..matched]);
            }
            self.bom = BOM_DONE;
        }
        if self.after_cr {
            self.after_cr = false;
            chunk = chunk.strip_prefix(b"\n").unwrap_or(chunk);
        }
        while let Some(at) = memchr::memchr2(b'\n', b'\r', chunk) {
            if self.line.len() + at > self.max_line {
                return Err(SseError::LineTooLong(self.max_line));
            }
            self.line.extend_from_slice(&chunk[..at]);
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            self.line = line;
            self.line.clear();
            if chunk[at] == b'\r' {
                match chunk.get(at + 1) {
                    Some(b'\n') => chunk = &chunk[at + 2..],
                    Some(_) => chunk = &chunk[at + 1..],
                    None => {
                        self.after_cr = true;
                        chunk = &[];
                    }
                }
            } else {
                chunk = &chunk[at + 1..];
            }
        }
        if self.line.len() + chunk.len() > self.max_line {
            return Err(SseError::LineTooLong(self.max_line));
        }
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            if self.last_id != self.id_buffer {
                self.last_id.clone_from(&self.id_buffer);
            }
            if self.has_data {
                out.push(Event {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                    id: self.last_id.clone(),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(at) => {
                let v = &line[at + 1..];
                (&line[..at], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"id" if !value.contains('\0') => self.id_buffer = Some(value.into_owned()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8], chunk: usize) -> Vec<Event> {
        let mut p = Parser::new(1 << 16);
        let mut out = Vec::new();
        for c in bytes.chunks(chunk.max(1)) {
            p.feed(c, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn messages_round_trip_in_any_chunking() {
        let mut s = Vec::new();
        write_comment(&mut s, "pushpoll last_seq=0");
        write_message(&mut s, 1, Kind::Text, b"hello");
        write_message(&mut s, 2, Kind::Text, b"two\nlines");
        write_message(&mut s, 3, Kind::Text, b"cr\r\nlf");
        write_message(&mut s, 4, Kind::Binary, &[0, 1, 255]);
        write_gap(&mut s, 1, 10, 20);
        for chunk in [1, 2, 3, 7, 1000] {
            let ev = parse_all(&s, chunk);
            assert_eq!(ev.len(), 5, "chunk {chunk}");
            assert_eq!(ev[0].payload().unwrap(), (Kind::Text, b"hello".to_vec()));
            assert_eq!(ev[0].seq(), Some(1));
            assert_eq!(
                ev[1].payload().unwrap(),
                (Kind::Text, b"two\nlines".to_vec())
            );
            assert_eq!(ev[2].payload().unwrap(), (Kind::Text, b"cr\r\nlf".to_vec()));
            assert_eq!(ev[3].payload().unwrap(), (Kind::Binary, vec![0, 1, 255]));
            assert_eq!(ev[4].event, EVENT_GAP);
            assert_eq!(ev[4].seq(), Some(4), "a gap carries the last id in force");
        }
    }

    #[test]
    fn follows_the_standard_line_rules() {
        let ev = parse_all(
            b"\xEF\xBB\xBFdata:a\r\rdata\r\nid: 9\ndata: b\n\n:c\n\nevent: x\n\n",
            3,
        );
        assert_eq!(
            ev,
            vec![
                Event {
                    event: String::new(),
                    data: "a".into(),
                    id: None
                },
                Event {
                    event: String::new(),
                    data: "\nb".into(),
                    id: Some("9".into())
                },
            ]
        );
    }

    #[test]
    fn empty_chunks_and_a_cut_bom_change_nothing() {
        let run = |chunks: &[&[u8]]| {
            let mut p = Parser::new(1 << 16);
            let mut out = Vec::new();
            for c in chunks {
                p.feed(c, &mut out).unwrap();
            }
            out
        };
        let whole = run(&[b"\xEF\xBB\xBFdata: a\r\nid: 1\ndata: b\n\n"]);
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].data, "a\nb");
        let cut: &[&[u8]] = &[
            b"",
            b"\xEF",
            b"\xBB",
            b"",
            b"\xBFdata: a\r",
            b"",
            b"\nid: 1\ndata: b\n\n",
        ];
        assert_eq!(run(cut), whole);
        // Two bytes of a BOM and then something else: those bytes are data.
        let not_bom = run(&[b"\xEF\xBB", b"data: x\n\n"]);
        assert!(not_bom.is_empty(), "the first line's name is not `data`");
    }

    /// A stream cut inside an event (after its `id:` line) must leave the
    /// resume point at the last complete event, or the reconnect skips it.
    #[test]
    fn the_resume_id_moves_only_when_an_event_ends() {
        let mut p = Parser::new(1 << 16);
        let mut out = Vec::new();
        p.feed(
            b"id: 6
data: six

id: 7
",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(p.last_event_id(), Some("6"));
        p.feed(
            b"data: seven
",
            &mut out,
        )
        .unwrap();
        assert_eq!(p.last_event_id(), Some("6"), "event 7 has not ended");
        p.feed(
            b"
", &mut out,
        )
        .unwrap();
        assert_eq!(p.last_event_id(), Some("7"));
        assert_eq!(out[1].id.as_deref(), Some("7"));
        // An event with an id but no data still moves it (the standard sets
        // the last event ID string before it drops an empty event).
        p.feed(
            b"id: 8

", &mut out,
        )
        .unwrap();
        assert_eq!((out.len(), p.last_event_id()), (2, Some("8")));
    }

    #[test]
    fn long_lines_are_refused() {
        let mut p = Parser::new(8);
        let mut out = Vec::new();
        assert_eq!(
            p.feed(b"data: 0123456789", &mut out),
            Err(SseError::LineTooLong(8))
        );
    }
}
