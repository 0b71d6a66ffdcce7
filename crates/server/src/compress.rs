//! Compressing poll answers (`Content-Encoding: br` / `gzip`) for clients
//! whose `Accept-Encoding` allows it, as a production front end would.
//!
//! Why only poll answers: they are whole JSON bodies, the one place where
//! HTTP compression applies as it does for any API. SSE streams and
//! WebSocket frames are left as they are (a WebSocket would need
//! permessage-deflate, which tungstenite does not implement).
//!
//! Bodies under [`Compression::min_bytes`] go out as they are, as nginx's
//! `gzip_min_length` does; the default is nginx's own, 20 bytes, so every
//! poll answer is compressed, empty ones included (where the coding's
//! header and trailer make it *larger*: that is what a default nginx does,
//! and what the measurements show).

use std::io::Write;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_ENCODING, VARY};
use http::{HeaderMap, Response};

use crate::response::Body;

/// A content coding the server can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// Brotli (RFC 7932), quality [`BROTLI_QUALITY`].
    Br,
    /// gzip (RFC 1952), level [`GZIP_LEVEL`].
    Gzip,
}

impl Coding {
    /// The token in `Accept-Encoding` / `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// Brotli quality for answers made on the fly: 11, the format's default, is
/// meant for static files; 4 to 6 is what servers use for dynamic content.
pub const BROTLI_QUALITY: u32 = 5;
/// zlib's default level, as Node's `compression` and most servers use.
pub const GZIP_LEVEL: u32 = 6;

/// Which codings the server offers, in its order of preference, and from
/// what size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// Codings in the server's preference; the first the client accepts is
    /// used. Empty: never compress. Default `[br, gzip]`.
    pub codings: Vec<Coding>,
    /// Smallest body compressed, bytes. Default 20 (nginx's
    /// `gzip_min_length`).
    pub min_bytes: usize,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            codings: vec![Coding::Br, Coding::Gzip],
            min_bytes: 20,
        }
    }
}

impl Compression {
    /// Codings from a command line: `off`, or a comma-separated list of
    /// `br` and `gzip` in order of preference.
    pub fn parse_codings(s: &str) -> Result<Vec<Coding>, String> {
        if s.trim() == "off" {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for t in s.split(',').map(str::trim) {
            let c = match t {
                "br" => Coding::Br,
                "gzip" => Coding::Gzip,
                _ => {
                    return Err(format!(
                        "unknown coding {t:?}: expected off, or br and/or gzip (e.g. br,gzip)"
                    ))
                }
            };
            if !out.contains(&c) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// No compression at all.
    pub fn off() -> Self {
        Compression {
            codings: Vec::new(),
            min_bytes: 20,
        }
    }

    /// The coding to answer a request with these headers in: the server's
    /// first choice among those `Accept-Encoding` gives a non-zero `q`
    /// (`*` stands for any), or `None`.
    pub(crate) fn negotiate(&self, headers: &HeaderMap) -> Option<Coding> {
        if self.codings.is_empty() {
            return None;
        }
        let mut accepted: Vec<(&str, bool)> = Vec::new();
        for v in headers.get_all(http::header::ACCEPT_ENCODING) {
            let Ok(v) = v.to_str() else { continue };
            for item in v.split(',') {
                let mut parts = item.split(';');
                let token = parts.next().unwrap_or("").trim();
                let zero = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                accepted.push((token, !zero));
            }
        }
        self.codings.iter().copied().find(|c| {
            let exact = accepted
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(c.token()));
            match exact {
                Some((_, ok)) => *ok,
                None => accepted.iter().any(|(t, ok)| *t == "*" && *ok),
            }
        })
    }

    /// `resp` with its whole body encoded in `coding`, when there is one and
    /// the body is big enough.
    pub(crate) fn apply(&self, resp: Response<Body>, coding: Option<Coding>) -> Response<Body> {
        let Some(coding) = coding else { return resp };
        let (mut parts, body) = resp.into_parts();
        let bytes = match body {
            Body::Full(Some(b)) if b.len() >= self.min_bytes => b,
            other => return Response::from_parts(parts, other),
        };
        let encoded = encode(coding, &bytes);
        parts
            .headers
            .insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
        parts
            .headers
            .append(VARY, HeaderValue::from_static("accept-encoding"));
        Response::from_parts(parts, Body::full(encoded))
    }
}

/// `data` encoded in `coding`, in one go.
pub fn encode(coding: Coding, data: &[u8]) -> Bytes {
    match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 2 + 32),
                flate2::Compression::new(GZIP_LEVEL),
            );
            e.write_all(data).expect("writing to a Vec cannot fail");
            e.finish().expect("writing to a Vec cannot fail").into()
        }
        Coding::Br => {
            let mut out = Vec::with_capacity(data.len() / 2 + 32);
            {
                // The format's default window, 4 MiB. Not sized to the body:
                // with the brotli crate at quality 5, a 1 KiB window (a
                // 200-byte answer's) takes 8 times as long (400 µs against
                // 50 µs an answer, measured), 256 KiB as long as 4 MiB.
                let lgwin = 22;
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, lgwin);
                w.write_all(data).expect("writing to a Vec cannot fail");
            }
            out.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT_ENCODING, v.parse().unwrap());
        h
    }

    #[test]
    fn negotiation_follows_the_servers_preference_and_q_zero() {
        let c = Compression::default();
        assert_eq!(
            c.negotiate(&accept("gzip, deflate, br, zstd")),
            Some(Coding::Br)
        );
        assert_eq!(c.negotiate(&accept("gzip")), Some(Coding::Gzip));
        assert_eq!(c.negotiate(&accept("br;q=0, gzip")), Some(Coding::Gzip));
        assert_eq!(c.negotiate(&accept("*")), Some(Coding::Br));
        assert_eq!(c.negotiate(&accept("*, br;q=0")), Some(Coding::Gzip));
        assert_eq!(c.negotiate(&accept("identity")), None);
        assert_eq!(c.negotiate(&HeaderMap::new()), None);
        assert_eq!(Compression::off().negotiate(&accept("gzip")), None);
    }

    #[test]
    fn small_bodies_stay_as_they_are() {
        let c = Compression {
            min_bytes: 100,
            ..Compression::default()
        };
        let small = Response::new(Body::full(vec![b'a'; 99]));
        let resp = c.apply(small, Some(Coding::Gzip));
        assert!(resp.headers().get(CONTENT_ENCODING).is_none());
        let big = Response::new(Body::full(vec![b'a'; 100]));
        let resp = c.apply(big, Some(Coding::Gzip));
        assert_eq!(resp.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(resp.headers()[VARY], "accept-encoding");
    }
}
