//! `GET /ws`: the WebSocket handshake (validated here, RFC 6455 §4.2), then
//! the session (in [`session`](self::session())), which the connection task
//! runs once hyper has written the `101`.
//!
//! The subscription is taken during the handshake, before the `101` goes
//! out, so a client that connects "from now on" misses nothing published
//! while its socket is being upgraded (axum's chat does the same).

use std::sync::Arc;

use http::header::{
    HeaderMap, HeaderName, HeaderValue, ALLOW, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use pushpoll_wire::frame::SUBPROTOCOL;
use pushpoll_wire::query::{PollQuery, QueryError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::connection::{ConnState, PendingUpgrade};
use crate::response::{self, Body};
use crate::Shared;

mod direct;
mod halves;
mod out;
mod session;

pub(crate) use direct::Outlets;
pub(crate) use session::session;

/// Checks the handshake and answers `101`, or refuses with `400`/`405`/`426`.
pub(crate) fn handshake(
    req: &mut Request<Incoming>,
    query: Result<PollQuery, QueryError>,
    shared: &Arc<Shared>,
    conn: &ConnState,
) -> Response<Body> {
    if req.method() != Method::GET {
        let mut resp = response::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket handshake is a GET request",
        );
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return resp;
    }
    let headers = req.headers();
    if !has_token(headers, &UPGRADE, "websocket") {
        return upgrade_required(
            "this endpoint speaks WebSocket only: send `Upgrade: websocket` (RFC 6455)",
        );
    }
    if !has_token(headers, &CONNECTION, "upgrade") {
        return response::error(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs `Connection: Upgrade`",
        );
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return upgrade_required(
            "only WebSocket version 13 is spoken: send `Sec-WebSocket-Version: 13`",
        );
    }
    let Some(key) = headers
        .get(SEC_WEBSOCKET_KEY)
        .filter(|k| valid_key(k.as_bytes()))
    else {
        return response::error(
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Key` must be 16 random bytes in base64 (RFC 6455 §4.1)",
        );
    };
    let query = match query {
        Ok(q) => q,
        Err(e) => return response::error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let v1 = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    let accept = derive_accept_key(key.as_bytes());

    let sub = shared.hub.subscribe(query.since);
    conn.set_upgrade(PendingUpgrade {
        on_upgrade: hyper::upgrade::on(&mut *req),
        sub,
        v1,
    });
    conn.attribution.make_sticky();

    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    if v1 {
        h.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    resp
}

/// `426 Upgrade Required`, naming what to upgrade to.
fn upgrade_required(message: &str) -> Response<Body> {
    let mut resp = response::error(StatusCode::UPGRADE_REQUIRED, message);
    let h = resp.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    resp
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A base64 encoding of exactly 16 bytes: 22 characters and `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens() {
        assert!(valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!valid_key(b"dGhlIHNhbXBsZSBub25jZ!=="));
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(has_token(&h, &CONNECTION, "upgrade"));
        assert!(!has_token(&h, &UPGRADE, "websocket"));
    }
}
