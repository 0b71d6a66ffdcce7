//! Decoding compressed answers (`Content-Encoding: gzip`, `deflate`, `br`).
//!
//! Only a header profile that sends `Accept-Encoding` gets compressed
//! answers. Bytes are counted at the socket, before decoding: a compressed
//! poll answer costs what it costs on the wire, and the payload inside is
//! found after decoding, as a browser would find it.

use std::io::Write;

use bytes::Bytes;
use http::HeaderMap;

use crate::core::error::Kind;

/// A content coding the generator decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// No `Content-Encoding` (or `identity`).
    Identity,
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950), as RFC 9110 defines it.
    Deflate,
    /// `br` (RFC 7932).
    Brotli,
}

impl Coding {
    /// The coding of an answer; a coding the generator does not know (or a
    /// chain of several) is a `content_encoding` error.
    pub fn of(headers: &HeaderMap) -> Result<Coding, Kind> {
        match headers.get(http::header::CONTENT_ENCODING) {
            None => Ok(Coding::Identity),
            Some(v) => Coding::from_value(v.as_bytes()),
        }
    }

    /// The coding a `Content-Encoding` value names (the raw bytes of the
    /// header, for clients that parse heads without a `HeaderMap`).
    pub fn from_value(v: &[u8]) -> Result<Coding, Kind> {
        let v = v.trim_ascii();
        if v.is_empty() || v.eq_ignore_ascii_case(b"identity") {
            Ok(Coding::Identity)
        } else if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Ok(Coding::Gzip)
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Ok(Coding::Deflate)
        } else if v.eq_ignore_ascii_case(b"br") {
            Ok(Coding::Brotli)
        } else {
            Err(Kind::Borrowed("content_encoding"))
        }
    }
}

/// Output written into a `Vec`, refusing to grow past a limit (a small
/// compressed answer may expand enormously).
pub(crate) struct Capped {
    out: Vec<u8>,
    max: usize,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.max {
            return Err(std::io::Error::other("decoded body over the limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An incremental decoder: compressed chunks in, decoded bytes out (for
/// streams such as SSE; a whole body is one chunk).
pub(crate) enum Decoder {
    /// Passes bytes through.
    Identity,
    /// gzip.
    Gzip(Box<flate2::write::GzDecoder<Capped>>),
    /// zlib.
    Deflate(Box<flate2::write::ZlibDecoder<Capped>>),
    /// brotli.
    Brotli(Box<brotli::DecompressorWriter<Capped>>),
}

impl Decoder {
    /// A decoder for `coding` whose total output may not pass `max` bytes.
    pub fn new(coding: Coding, max: usize) -> Decoder {
        let sink = Capped {
            out: Vec::new(),
            max,
        };
        match coding {
            Coding::Identity => Decoder::Identity,
            Coding::Gzip => Decoder::Gzip(Box::new(flate2::write::GzDecoder::new(sink))),
            Coding::Deflate => Decoder::Deflate(Box::new(flate2::write::ZlibDecoder::new(sink))),
            Coding::Brotli => {
                Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(sink, 4096)))
            }
        }
    }

    /// Decodes one chunk; returns what it decoded to so far (possibly
    /// nothing yet). Corrupt input or output over the limit is a
    /// `content_encoding` error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Bytes, Kind> {
        let bad = |_| Kind::Borrowed("content_encoding");
        let sink = match self {
            Decoder::Identity => return Ok(Bytes::copy_from_slice(chunk)),
            Decoder::Gzip(d) => {
                d.write_all(chunk).map_err(bad)?;
                d.flush().map_err(bad)?;
                d.get_mut()
            }
            Decoder::Deflate(d) => {
                d.write_all(chunk).map_err(bad)?;
                d.flush().map_err(bad)?;
                d.get_mut()
            }
            Decoder::Brotli(d) => {
                d.write_all(chunk).map_err(bad)?;
                d.flush().map_err(bad)?;
                d.get_mut()
            }
        };
        // What was handed out counts against the limit no more.
        sink.max -= sink.out.len();
        Ok(Bytes::from(std::mem::take(&mut sink.out)))
    }
}

/// Decodes a whole body of `coding` (at most `max` bytes decoded).
pub(crate) fn decode_body(coding: Coding, body: Bytes, max: usize) -> Result<Bytes, Kind> {
    if coding == Coding::Identity {
        return Ok(body);
    }
    let mut d = Decoder::new(coding, max);
    let out = d.feed(&body)?;
    // A truncated stream decodes to less than it should; gzip's trailer
    // check happens on finish.
    match d {
        Decoder::Gzip(d) => d
            .finish()
            .map(|rest| [out, Bytes::from(rest.out)].concat().into())
            .map_err(|_| Kind::Borrowed("content_encoding")),
        Decoder::Deflate(d) => d
            .finish()
            .map(|rest| [out, Bytes::from(rest.out)].concat().into())
            .map_err(|_| Kind::Borrowed("content_encoding")),
        Decoder::Brotli(d) => d
            .into_inner()
            .map(|rest| [out, Bytes::from(rest.out)].concat().into())
            .map_err(|_| Kind::Borrowed("content_encoding")),
        Decoder::Identity => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn br(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    #[test]
    fn bodies_decode_and_bombs_stop_at_the_limit() {
        let text = br#"{"messages":[],"last_seq":7,"oldest_seq":1,"more":false}"#.repeat(20);
        for (coding, enc) in [(Coding::Gzip, gzip(&text)), (Coding::Brotli, br(&text))] {
            let got = decode_body(coding, Bytes::from(enc.clone()), 1 << 20).unwrap();
            assert_eq!(&got[..], &text[..], "{coding:?}");
            assert!(decode_body(coding, Bytes::from(enc.clone()), 100).is_err());
            let cut = Bytes::copy_from_slice(&enc[..enc.len() / 2]);
            assert!(
                decode_body(coding, cut, 1 << 20).is_err(),
                "{coding:?} truncated"
            );
        }
        // Streamed in small pieces, the same bytes come out.
        let enc = gzip(&text);
        let mut d = Decoder::new(Coding::Gzip, 1 << 20);
        let mut out = Vec::new();
        for chunk in enc.chunks(7) {
            out.extend_from_slice(&d.feed(chunk).unwrap());
        }
        assert_eq!(out, text);
    }

    #[test]
    fn codings_are_read_from_the_head() {
        let mut h = HeaderMap::new();
        assert_eq!(Coding::of(&h).unwrap(), Coding::Identity);
        h.insert(http::header::CONTENT_ENCODING, "BR".parse().unwrap());
        assert_eq!(Coding::of(&h).unwrap(), Coding::Brotli);
        h.insert(http::header::CONTENT_ENCODING, "zstd".parse().unwrap());
        assert!(Coding::of(&h).is_err());
        assert_eq!(Coding::from_value(b" GZip ").unwrap(), Coding::Gzip);
        assert_eq!(Coding::from_value(b"").unwrap(), Coding::Identity);
        assert!(Coding::from_value(b"gzip, br").is_err());
    }
}
