//! Server-Sent Events subscriber: one streaming `GET` per connection, parsed
//! incrementally with `pushpoll_wire::sse::Parser`; on a cut it reconnects and
//! sends `Last-Event-ID`, as a browser's `EventSource` does. A `429` or
//! `503` with `Retry-After` is retried no sooner than asked (bounded).

use http_body_util::BodyExt;
use hyper::body::Incoming;
use pushpoll_wire::sse::{Event, Parser, EVENT_BINARY, EVENT_GAP, EVENT_TEXT_BASE64};

use super::{retry_after, Backoff, Sub};
use crate::config::headers::RequestKind;
use crate::core::error::{error_kind, status_kind, Kind};
use crate::proto::decode::{Coding, Decoder};
use crate::proto::http::get;

/// Smallest line limit of the SSE parser.
const MIN_LINE: usize = 1 << 20;

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
        let open = async {
            let mut conn = sub.http_connect().await?;
            let vars = plan.sub_vars(sub.idx);
            let mut req = plan.request_headers(
                RequestKind::Stream,
                get(&plan.sub.authority, &plan.sub.path(&vars)),
                &vars,
            );
            if let Some(id) = &last_id {
                req = req.header("last-event-id", id.as_str());
            }
            let req = req
                .body(Default::default())
                .map_err(|_| Kind::Borrowed("protocol"))?;
            sub.io.request();
            let resp = conn.send(req, plan.timeout).await?;
            Ok::<_, Kind>((conn, resp))
        };
        // Boxed: connecting takes more room than streaming, and only until
        // the answer's head is in.
        match sub.guard(Box::pin(open)).await {
            None => return,
            Some(Err(kind)) => {
                if !sub.failed(kind) {
                    return;
                }
            }
            Some(Ok((_conn, resp))) if resp.status().is_success() => {
                if !sub.ready() {
                    return;
                }
                backoff.reset();
                let kind = match Coding::of(resp.headers()) {
                    Ok(coding) => {
                        let decoder = Decoder::new(coding, usize::MAX);
                        stream(sub, resp.into_body(), decoder, max_line, &mut last_id).await
                    }
                    Err(kind) => kind,
                };
                sub.error(kind);
            }
            Some(Ok((_conn, resp))) => {
                let status = resp.status().as_u16();
                wait = retry_after(status, resp.headers());
                if !sub.failed(status_kind(status)) {
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
    mut body: Incoming,
    mut decoder: Decoder,
    max_line: usize,
    last_id: &mut Option<String>,
) -> Kind {
    let mut parser = Parser::new(max_line);
    let mut events: Vec<Event> = Vec::new();
    loop {
        let frame = match body.frame().await {
            None => return Kind::Borrowed("eof"),
            Some(Err(e)) => return error_kind(&e),
            Some(Ok(f)) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
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
