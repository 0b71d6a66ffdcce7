//! The load generator's in-payload marker.
//!
//! A marker is ASCII: `~pp1.<run>.<publisher>.<seq>.<scheduled_us>~`, every
//! field lowercase hex, padded after the closing `~` with `-` up to the
//! requested payload size. It contains nothing JSON, HTML or SSE would escape,
//! so a server may wrap the payload (socket.io's `42["chat",...]`, an echo
//! server's prefix) and the generator still finds it. The scheduled time is
//! microseconds since the Unix epoch, so several generator processes on one
//! machine agree on it.

use std::fmt::Write as _;

/// The bytes every marker starts with.
pub const PREFIX: &[u8] = b"~pp1.";
/// The padding byte after the marker.
pub const PAD: u8 = b'-';
/// Longest possible encoded marker (all fields at their maximum).
pub const MAX_LEN: usize = PREFIX.len() + 8 + 1 + 8 + 1 + 16 + 1 + 16 + 1;

/// Identity and schedule of one published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Marker {
    /// Random id of the load run, so two runs against one server never mix.
    pub run_id: u32,
    /// Index of the publisher that sent it.
    pub publisher: u32,
    /// Per-publisher sequence number, from 0, with no gaps.
    pub seq: u64,
    /// When the message was scheduled to be sent (µs since the Unix epoch).
    /// Latency is measured from here, not from the actual send (open loop).
    pub scheduled_us: u64,
}

impl Marker {
    /// The marker alone.
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(MAX_LEN);
        self.write_to(&mut s);
        s
    }

    fn write_to(&self, s: &mut String) {
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "~pp1.{:x}.{:x}.{:x}.{:x}~",
            self.run_id, self.publisher, self.seq, self.scheduled_us
        );
    }

    /// A payload of exactly `size` bytes (or the marker's own length if that
    /// is larger) that starts with this marker.
    pub fn payload(&self, size: usize) -> String {
        let mut s = String::with_capacity(size.max(MAX_LEN));
        self.write_to(&mut s);
        while s.len() < size {
            s.push(PAD as char);
        }
        s
    }

    /// The first well-formed marker anywhere in `haystack`.
    ///
    /// Payloads the generator wrote start with their marker, so that is
    /// tried first; otherwise (a server that wraps payloads) the prefix is
    /// searched with a searcher built once, not per call: the load generator
    /// calls this once per delivered message.
    pub fn find(haystack: &[u8]) -> Option<Marker> {
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(PREFIX));
        if haystack.starts_with(PREFIX) {
            if let Some(m) = parse_at(haystack) {
                return Some(m);
            }
        }
        FINDER
            .find_iter(haystack)
            .find_map(|at| parse_at(&haystack[at..]))
    }
}

/// Parses a marker that starts at `bytes[0]` (which must be the prefix).
fn parse_at(bytes: &[u8]) -> Option<Marker> {
    let rest = bytes.strip_prefix(PREFIX)?;
    let end = memchr::memchr(b'~', &rest[..rest.len().min(MAX_LEN)])?;
    let mut fields = rest[..end].split(|&b| b == b'.');
    let run_id = u32::try_from(hex(fields.next()?)?).ok()?;
    let publisher = u32::try_from(hex(fields.next()?)?).ok()?;
    let seq = hex(fields.next()?)?;
    let scheduled_us = hex(fields.next()?)?;
    if fields.next().is_some() {
        return None;
    }
    Some(Marker {
        run_id,
        publisher,
        seq,
        scheduled_us,
    })
}

fn hex(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 16 {
        return None;
    }
    field.iter().try_fold(0u64, |acc, &b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Marker {
        Marker {
            run_id: 0xdead_beef,
            publisher: 3,
            seq: 123_456,
            scheduled_us: 1_764_000_000_000_000,
        }
    }

    #[test]
    fn round_trips_and_pads_to_size() {
        let p = sample().payload(256);
        assert_eq!(p.len(), 256);
        assert_eq!(Marker::find(p.as_bytes()), Some(sample()));
    }

    #[test]
    fn small_sizes_give_the_bare_marker() {
        let p = sample().payload(1);
        assert_eq!(p, sample().encode());
        assert!(p.len() <= MAX_LEN);
    }

    #[test]
    fn found_inside_a_wrapper() {
        let wrapped = format!("42[\"chat message\",\"{}\"]", sample().payload(80));
        assert_eq!(Marker::find(wrapped.as_bytes()), Some(sample()));
    }

    #[test]
    fn skips_broken_candidates() {
        let s = format!("~pp1.zz.1.2.3~ ~pp1.1.2~ {}", sample().encode());
        assert_eq!(Marker::find(s.as_bytes()), Some(sample()));
        assert_eq!(Marker::find(b"~pp1.1.2.3.4"), None);
        assert_eq!(Marker::find(b"~pp1.1.2.3.4.5~"), None);
        assert_eq!(Marker::find(b"~pp1.100000000.2.3.4~"), None);
        assert_eq!(Marker::find(b"hello"), None);
    }
}
