//! Who the generator says it is: extra headers, `Origin` and subprotocol
//! names, checked against what the generator must write itself.

use http::{HeaderName, HeaderValue};
use url::Url;

use crate::config::opts::LoadOpts;
use crate::config::template::{self, Scope, Template, Vars};
use crate::config::users::Users;
use crate::core::error::LoadError;

/// The extra headers of every request: fixed ones, and those whose value
/// holds a placeholder (`Authorization: Bearer {user.token}`), rendered per
/// connection.
pub(crate) struct Extra {
    pub fixed: Vec<(HeaderName, HeaderValue)>,
    pub templated: Vec<(HeaderName, Template)>,
}

/// Most `--header`s one run may add.
const MAX_HEADERS: usize = 64;
/// Most bytes all `--header`s, `--origin` and `--subprotocol`s may add up to.
const MAX_HEADER_BYTES: usize = 16 << 10;
/// Headers the generator writes itself; `--header` may not set them.
const RESERVED_HEADERS: [(&str, &str); 14] = [
    ("host", "it comes from the URL"),
    ("content-length", "the generator frames bodies itself"),
    ("transfer-encoding", "the generator frames bodies itself"),
    ("content-type", "publishers send text/plain"),
    ("connection", "the generator manages connections"),
    ("keep-alive", "the generator manages connections"),
    ("te", "the generator manages connections"),
    ("upgrade", "the WebSocket handshake sets it"),
    ("sec-websocket-key", "the WebSocket handshake sets it"),
    ("sec-websocket-version", "the WebSocket handshake sets it"),
    (
        "sec-websocket-extensions",
        "the generator asks for no extension",
    ),
    ("sec-websocket-accept", "it is a response header"),
    ("sec-websocket-protocol", "use --subprotocol"),
    ("origin", "use --origin"),
];

/// `--header`s and `--origin` as headers, and `--subprotocol` names
/// checked; at most [`MAX_HEADERS`] headers and [`MAX_HEADER_BYTES`] bytes
/// (connection 0's values, for templated ones).
pub(super) fn headers(o: &LoadOpts, users: Option<&Users>) -> Result<Extra, LoadError> {
    let mut headers = Vec::with_capacity(o.headers.len() + 1);
    let mut templated = Vec::new();
    if o.headers.len() > MAX_HEADERS {
        return Err(LoadError::InvalidOption {
            option: "header",
            reason: format!("at most {MAX_HEADERS} headers, got {}", o.headers.len()),
        });
    }
    for raw in &o.headers {
        let (name, value) = parse_header(raw)?;
        let text = value.to_str().unwrap_or_default();
        if template::scan(text)
            .iter()
            .any(|p| matches!(p, template::Piece::Name(_)))
        {
            let scope = Scope {
                marker: false,
                users,
            };
            let t = Template::parse("header", text, scope)?;
            let first = header_value(&name, &t, &Vars::first(users))?;
            templated.push((name, t, first));
        } else {
            headers.push((name, value));
        }
    }
    if let Some(raw) = &o.origin {
        headers.push((http::header::ORIGIN, parse_origin(raw)?));
    }
    let extra_bytes: usize = headers
        .iter()
        .map(|(n, v)| (n, v))
        .chain(templated.iter().map(|(n, _, v)| (n, v)))
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .chain(o.subprotocols.iter().map(|p| p.len() + 2))
        .sum();
    if extra_bytes > MAX_HEADER_BYTES {
        return Err(LoadError::InvalidOption {
            option: "header",
            reason: format!(
                "--header, --origin and --subprotocol add {extra_bytes} bytes to every request; at most {MAX_HEADER_BYTES}"
            ),
        });
    }
    for p in &o.subprotocols {
        if !is_token(p) {
            return Err(LoadError::InvalidOption {
                option: "subprotocol",
                reason: format!(
                    "{p:?} is not a valid subprotocol name (one token: letters, digits and !#$%&'*+-.^_`|~, no spaces or commas)"
                ),
            });
        }
    }
    Ok(Extra {
        fixed: headers,
        templated: templated.into_iter().map(|(n, t, _)| (n, t)).collect(),
    })
}

/// A templated header's value for one connection.
pub(crate) fn header_value(
    name: &HeaderName,
    t: &Template,
    vars: &Vars<'_>,
) -> Result<HeaderValue, LoadError> {
    HeaderValue::from_str(&t.render(vars, "")).map_err(|_| LoadError::InvalidOption {
        option: "header",
        reason: format!(
            "the value of {name} for connection {} has characters a header cannot carry (control characters such as a newline)",
            vars.id
        ),
    })
}

/// Parses one `--header NAME:VALUE`.
fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), LoadError> {
    let bad = |reason: String| LoadError::InvalidOption {
        option: "header",
        reason,
    };
    let Some((name, value)) = raw.split_once(':') else {
        return Err(bad(format!(
            "expected NAME:VALUE (for example --header 'Cookie: session=abc'), got {raw:?}"
        )));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(bad(format!(
            "the header name before ':' is empty in {raw:?}"
        )));
    }
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        bad(format!(
            "{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ))
    })?;
    if let Some((_, why)) = RESERVED_HEADERS.iter().find(|(n, _)| *n == name.as_str()) {
        return Err(bad(format!("{name} cannot be set with --header: {why}")));
    }
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        bad(format!(
            "the value of {name} has characters a header cannot carry (control characters such as a newline)"
        ))
    })?;
    Ok((name, value))
}

/// Whether `s` is an HTTP token (RFC 9110), as a subprotocol name must be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The `Origin` header value of `--origin`: `scheme://host[:port]`, or `null`.
fn parse_origin(raw: &str) -> Result<HeaderValue, LoadError> {
    let bad = |reason: &str| LoadError::InvalidOption {
        option: "origin",
        reason: format!("{reason}, got {raw:?}"),
    };
    if raw == "null" {
        return Ok(HeaderValue::from_static("null"));
    }
    let url =
        Url::parse(raw).map_err(|_| bad("expected an origin such as http://localhost:8080"))?;
    if url.host_str().is_none() {
        return Err(bad("an origin needs a host (scheme://host[:port])"));
    }
    let origin = url.origin().ascii_serialization();
    HeaderValue::from_str(&origin).map_err(|_| bad("not usable as a header value"))
}
