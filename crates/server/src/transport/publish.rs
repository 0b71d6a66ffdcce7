//! `POST /messages`: publish the body as one message.

use std::sync::Arc;

use bytes::BytesMut;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pushpoll_wire::poll::PublishResponse;
use pushpoll_wire::Kind;

use crate::response::{self, Body};
use crate::Shared;

/// How much of an oversized body is read and thrown away so that the `413`
/// reaches the client (closing a socket with unread data makes the kernel
/// send a reset, which can destroy the answer). Past it, the socket is closed.
const DRAIN_LIMIT: u64 = 1 << 20;

/// Publishes the request body: binary when `Content-Type` is
/// `application/octet-stream`, else UTF-8 text.
pub(crate) async fn publish(req: Request<Incoming>, shared: &Arc<Shared>) -> Response<Body> {
    let max = shared.limits.max_body_bytes;
    let kind = match req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct)
            if ct
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/octet-stream")) =>
        {
            Kind::Binary
        }
        _ => Kind::Text,
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > DRAIN_LIMIT) {
        return too_large(max, false);
    }

    let mut body = req.into_body();
    let mut payload = BytesMut::with_capacity(declared.map_or(0, |n| n.min(max as u64) as usize));
    let mut seen: u64 = 0;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(e)) => {
                return response::error_and_close(
                    StatusCode::BAD_REQUEST,
                    format!("could not read the request body: {e}"),
                )
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                seen += data.len() as u64;
                if seen > DRAIN_LIMIT {
                    return too_large(max, false);
                }
                if seen <= max as u64 {
                    payload.extend_from_slice(&data);
                }
            }
        }
    }
    if seen > max as u64 {
        return too_large(max, true);
    }
    let payload = payload.freeze();
    if kind == Kind::Text && std::str::from_utf8(&payload).is_err() {
        return response::error(
            StatusCode::BAD_REQUEST,
            "a text message must be UTF-8; publish bytes with Content-Type: application/octet-stream",
        );
    }
    let seq = shared.publish(kind, payload);
    response::json(StatusCode::CREATED, &PublishResponse { seq })
}

/// `413`; `drained` says whether the whole body was read (so the socket can
/// serve another request).
fn too_large(max: usize, drained: bool) -> Response<Body> {
    let message = format!("the body is over the {max} bytes a message may have: send less");
    if drained {
        response::error(StatusCode::PAYLOAD_TOO_LARGE, message)
    } else {
        response::error_and_close(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
}
