//! Server-Sent Events subscriber: one streaming `GET` per connection, parsed
//! incrementally with `pushpoll_wire::sse::Parser`; on a cut it reconnects and
//! sends `Last-Event-ID`, as a browser's `EventSource` does. A `429` or
//! `503` with `Retry-After` is retried no sooner than asked (bounded).
//!
//! Over HTTP/1.1 the stream is read by the lean client's
//! [`stream`](crate::proto::h1::stream) from the subscriber's own task, so
//! an idle stream holds no buffer; over HTTP/2 (`--http2`) through hyper.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pushpoll_wire::sse::{Event, Parser, EVENT_BINARY, EVENT_GAP, EVENT_TEXT_BASE64};

use super::{retry_after, Backoff, Sub};
use crate::config::headers::RequestKind;
use crate::core::error::{error_kind, status_kind, Kind};
use crate::net::connect::{connect_counted, SubStream};
use crate::proto::decode::{Coding, Decoder};
use crate::proto::h1::{stream as h1_stream, PollHead};
use crate::proto::http::get;
use crate::proto::http2::SubConn;

/// Smallest line limit of the SSE parser.
const MIN_LINE: usize = 1 << 20;

/// A stream's body: over HTTP/1.1 read by the subscriber's own task (no
/// buffer held while idle), over HTTP/2 (`--http2`) through hyper.
enum Body {
    H1(h1_stream::Body<SubStream>),
    H2 {
        body: Incoming,
        /// The stream handle the body came on, kept open with it.
        _conn: SubConn,
    },
}

impl Body {
    /// The next bytes of the body; `None` once it has ended.
    async fn data(&mut self) -> Option<Result<Bytes, Kind>> {
        match self {
            Body::H1(b) => b.data().await,
            Body::H2 { body: b, .. } => loop {
                match b.frame().await? {
                    Err(e) => return Some(Err(error_kind(&e))),
                    Ok(f) => {
                        if let Ok(d) = f.into_data() {
                            return Some(Ok(d));
                        }
                    }
                }
            },
        }
    }
}

/// An answer to the stream's `GET`: what its head said, and its body.
struct Opened {
    status: u16,
    retry_after: Option<Duration>,
    coding: Result<Coding, Kind>,
    body: Body,
}

/// Connects and sends the stream's `GET` (with `Last-Event-ID` after a
/// cut), up to the answer's head.
async fn open(sub: &Sub, last_id: Option<&str>) -> Result<Opened, Kind> {
    let plan = &sub.env.plan;
    let vars = plan.sub_vars(sub.idx);
    let target = plan.sub.path(&vars);
    if sub.env.h2.is_some() {
        let mut conn = sub.http_connect().await?;
        let mut req = plan.request_headers(
            RequestKind::Stream,
            get(&plan.sub.authority, &target),
            &vars,
        );
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let req = req
            .body(Default::default())
            .map_err(|_| Kind::Borrowed("protocol"))?;
        sub.io.request();
        let resp = conn.send(req, plan.timeout).await?;
        let status = resp.status().as_u16();
        return Ok(Opened {
            status,
            retry_after: retry_after(status, resp.headers()),
            coding: Coding::of(resp.headers()),
            body: Body::H2 {
                body: resp.into_body(),
                _conn: conn,
            },
        });
    }
    let env = &sub.env;
    let io = connect_counted(env.addr, plan.sub.tls.as_ref(), plan.timeout, &sub.io).await?;
    let mut req = plan.request_headers(RequestKind::Stream, get(&plan.sub.authority, "/"), &vars);
    if let Some(id) = last_id {
        req = req.header("last-event-id", id);
    }
    let req = req.body(()).map_err(|_| Kind::Borrowed("protocol"))?;
    // The request as hyper wrote it (`PollHead` renders its way).
    let mut out = Vec::new();
    PollHead::new(req.headers()).render(&target, &mut out)?;
    sub.io.request();
    let (head, body) = match tokio::time::timeout(plan.timeout, h1_stream::open(io, &out)).await {
        Err(_) => return Err(Kind::Borrowed("timeout")),
        Ok(r) => r?,
    };
    Ok(Opened {
        status: head.status,
        retry_after: head.retry_after,
        coding: head.coding,
        body: Body::H1(body),
    })
}

pub(super) async fn run(sub: &mut Sub) {
    let env = sub.env.clone();
    let plan = &env.plan;
    // Base64 makes a binary payload 4/3 larger; leave room.
    let max_line = MIN_LINE.max(plan.payload_bytes * 2 + 1024);
    // A rejoin after a churn leave resumes where the last connection was.
    let mut last_id: Option<String> = sub.resume_event_id.clone();
    let mut backoff = Backoff::new();
    loop {
        let mut wait = None;
        // Boxed: connecting takes more room than streaming, and only until
        // the answer's head is in.
        match sub.guard(Box::pin(open(sub, last_id.as_deref()))).await {
            None => return,
            Some(Err(kind)) => {
                if !sub.failed(kind) {
                    return;
                }
            }
            Some(Ok(opened)) if (200..300).contains(&opened.status) => {
                if !sub.ready() {
                    return;
                }
                backoff.reset();
                let kind = match opened.coding {
                    Ok(coding) => {
                        let decoder = Decoder::new(coding, usize::MAX);
                        stream(sub, opened.body, decoder, max_line, &mut last_id).await
                    }
                    Err(kind) => kind,
                };
                sub.error(kind);
            }
            Some(Ok(opened)) => {
                wait = opened.retry_after;
                if !sub.failed(status_kind(opened.status)) {
                    return;
                }
            }
        }
        if !sub.pause(&mut backoff, wait).await {
            return;
        }
    }
}

/// Reads events until the stream ends; returns why it ended.
async fn stream(
    sub: &mut Sub,
    mut body: Body,
    mut decoder: Decoder,
    max_line: usize,
    last_id: &mut Option<String>,
) -> Kind {
    let mut parser = Parser::new(max_line);
    let mut events: Vec<Event> = Vec::new();
    loop {
        let data = match body.data().await {
            None => return Kind::Borrowed("eof"),
            Some(Err(kind)) => return kind,
            Some(Ok(d)) => d,
        };
        // A compressed stream (a profile with `Accept-Encoding`): events
        // are parsed from what it decodes to.
        let data = match decoder.feed(&data) {
            Ok(d) => d,
            Err(kind) => return kind,
        };
        if parser.feed(&data, &mut events).is_err() {
            return Kind::Borrowed("protocol");
        }
        for ev in events.drain(..) {
            match ev.event.as_str() {
                EVENT_GAP => sub.error(Kind::Borrowed("gap")),
                EVENT_BINARY | EVENT_TEXT_BASE64 => match ev.payload() {
                    Ok((_, bytes)) => sub.deliver(&bytes),
                    Err(_) => sub.error(Kind::Borrowed("protocol")),
                },
                _ => sub.deliver(ev.data.as_bytes()),
            }
        }
        if let Some(id) = parser.last_event_id() {
            if last_id.as_deref() != Some(id) {
                *last_id = Some(id.to_owned());
                sub.resume_event_id = last_id.clone();
            }
        }
    }
}
