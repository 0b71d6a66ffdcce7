//! Polling subscribers, short and long, over one keep-alive HTTP/1.1
//! connection each, speaking pushpoll's JSON (`PollResponse`).
//!
//! The first request has no `since`: its answer gives the `last_seq` to start
//! from, and the subscriber is ready. After that each answer's
//! `next_since()` is the next `since`. Long polls are re-issued as soon as an
//! answer arrives (RFC 6202 §2.2); short polls on fixed-rate ticks whose phase
//! is random per subscriber, so a thousand pollers do not fire together. An
//! answer with `more: true` is followed at once by the next poll.
//!
//! A `429` or `503` with `Retry-After` is retried no sooner than asked (at
//! most [`RETRY_AFTER_MAX`](super::RETRY_AFTER_MAX)), on a new connection
//! when the answer said `Connection: close`.
//!
//! HTTP/1.1 polls go through the lean client of [`crate::proto::h1`] (headers
//! rendered once, answers parsed in this task), so the generator is not
//! what limits a short-poll run; HTTP/2 polls (`--http2`) through hyper.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use http::header;
use pushpoll_wire::poll::{ErrorBody, PollResponse};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::{retry_after, Backoff, Sub};
use crate::config::headers::RequestKind;
use crate::config::opts::LoadTransport as Transport;
use crate::config::plan::Plan;
use crate::config::template::Vars;
use crate::core::error::{status_kind, Kind};
use crate::proto::h1::{Answer, H1Conn, PollHead};
use crate::proto::http::get;
use crate::proto::http2::SubConn;

/// Largest poll answer read, bytes.
const MAX_BODY: usize = 16 << 20;
/// Short-poll intervals below this poll back to back (the timer's resolution).
const BACK_TO_BACK_BELOW: Duration = Duration::from_millis(1);

/// What to do after one poll.
enum Next {
    /// Poll again at once.
    Now,
    /// Poll again on the next tick (long polls: at once).
    Later,
    /// Wait a backoff, then poll again on this connection.
    Backoff,
    /// The server asked to wait (`Retry-After`): wait that and a backoff,
    /// then poll again, on a new connection if `reconnect`.
    RetryAfter { wait: Duration, reconnect: bool },
    /// The connection failed: reconnect.
    Reconnect,
    /// The subscriber must stop.
    Stop,
}

pub(super) async fn run(sub: &mut Sub) {
    let env = sub.env.clone();
    let plan = &env.plan;
    let long = plan.transport == Transport::LongPoll;
    let wait = if long {
        format!("&wait={}", plan.long_poll_wait.as_secs_f64())
    } else {
        String::new()
    };
    let timeout = plan.request_timeout();
    // HTTP/1.1: the headers, rendered once.
    let vars = plan.sub_vars(sub.idx);
    // This subscriber's URL (its own where placeholders fill it in).
    let base = plan.sub.path(&vars).into_owned();
    let head = if env.h2.is_none() {
        match plan
            .request_headers(RequestKind::Poll, get(&plan.sub.authority, "/"), &vars)
            .body(())
        {
            Ok(req) => Some(PollHead::new(req.headers())),
            Err(_) => {
                sub.error(Kind::Borrowed("protocol"));
                return;
            }
        }
    } else {
        None
    };
    // The request target, rewritten in place for each poll.
    let mut target = String::with_capacity(base.len() + 48);
    // Tokio's timer cannot wait less than a millisecond: a shorter interval
    // would make every poll wait for the next millisecond instead. Such
    // intervals mean "as fast as answers come", as wrk polls.
    let back_to_back = !long && plan.poll_interval < BACK_TO_BACK_BELOW;
    // A rejoin after a churn leave resumes where the last connection was.
    let mut since: Option<u64> = sub.resume_seq;
    let mut backoff = Backoff::new();
    let mut ticker: Option<Interval> = None;
    // Reconnect without a backoff pause: the last answer's wait has been
    // served, or the server closed after a good answer.
    let mut waited = false;
    loop {
        // Boxed: connecting (a TLS handshake, an HTTP/2 one) takes more
        // room than a held poll, and only until the connection is up.
        let connect = Box::pin(PollConn::connect(sub, head.is_some()));
        let mut conn = match sub.guard(connect).await {
            None => return,
            Some(Ok(c)) => c,
            Some(Err(kind)) => {
                if !sub.failed(kind) || !sub.pause(&mut backoff, None).await {
                    return;
                }
                continue;
            }
        };
        // A fresh connection polls at once only to get ready (or for long polls).
        let mut now = since.is_none() || long;
        loop {
            if !now {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
            }
            poll_target(&base, since, &wait, &mut target);
            sub.io.request();
            let fetch = conn.fetch(plan, &vars, head.as_ref(), &target, timeout);
            let answer = match sub.guard(fetch).await {
                None => return,
                Some(a) => a,
            };
            let next = match answer {
                Err(kind) => {
                    if sub.failed(kind) {
                        Next::Reconnect
                    } else {
                        Next::Stop
                    }
                }
                Ok(Answer {
                    status,
                    retry_after: Some(wait),
                    close,
                    ..
                }) => {
                    if sub.failed(status_kind(status)) {
                        Next::RetryAfter {
                            wait,
                            reconnect: close,
                        }
                    } else {
                        Next::Stop
                    }
                }
                Ok(Answer {
                    status,
                    body,
                    close,
                    ..
                }) => match status {
                    200 => match serde_json::from_slice::<PollResponse>(&body) {
                        Ok(resp) => {
                            if !sub.ready() {
                                return;
                            }
                            backoff.reset();
                            if ticker.is_none() && !long && !back_to_back {
                                ticker = Some(short_poll_ticker(plan.poll_interval));
                            }
                            if resp.messages.is_empty() {
                                sub.io.empty_polls.fetch_add(1, Relaxed);
                            }
                            for m in &resp.messages {
                                match (&m.text, m.payload()) {
                                    (Some(text), _) => sub.deliver(text.as_bytes()),
                                    (None, Ok((_, bytes))) => sub.deliver(&bytes),
                                    (None, Err(_)) => sub.error(Kind::Borrowed("protocol")),
                                }
                            }
                            since = Some(resp.next_since());
                            sub.resume_seq = since;
                            if close {
                                // The server ends the connection after each
                                // answer (HTTP/1.0 style, some proxies): a new
                                // one, as a browser would, without an error
                                // or a backoff.
                                waited = true;
                                Next::Reconnect
                            } else if resp.more {
                                Next::Now
                            } else {
                                Next::Later
                            }
                        }
                        Err(_) => failed(sub, Kind::Borrowed("protocol")),
                    },
                    410 if since.is_some() => {
                        sub.error(Kind::Borrowed("gone_410"));
                        match serde_json::from_slice::<ErrorBody>(&body)
                            .ok()
                            .and_then(|b| b.oldest_seq)
                        {
                            Some(oldest) => {
                                since = Some(oldest.saturating_sub(1));
                                sub.resume_seq = since;
                                Next::Now
                            }
                            None => Next::Backoff,
                        }
                    }
                    409 if since.is_some() => {
                        sub.error(status_kind(409));
                        match serde_json::from_slice::<ErrorBody>(&body)
                            .ok()
                            .and_then(|b| b.last_seq)
                        {
                            Some(last) => {
                                since = Some(last);
                                sub.resume_seq = since;
                                Next::Now
                            }
                            None => Next::Backoff,
                        }
                    }
                    code => failed(sub, status_kind(code)),
                },
            };
            match next {
                Next::Now => now = true,
                Next::Later => now = long || back_to_back,
                Next::Backoff => {
                    if !sub.pause(&mut backoff, None).await {
                        return;
                    }
                    now = true;
                }
                Next::RetryAfter { wait, reconnect } => {
                    if !sub.pause(&mut backoff, Some(wait)).await {
                        return;
                    }
                    if reconnect {
                        // Already waited: straight to a new connection.
                        waited = true;
                        break;
                    }
                    now = true;
                }
                Next::Reconnect => break,
                Next::Stop => return,
            }
        }
        drop(conn);
        if !std::mem::take(&mut waited) && !sub.pause(&mut backoff, None).await {
            return;
        }
    }
}

/// The path and query of a poll: the URL's, then `since` (and `wait`)
/// once the subscriber knows where it stands.
fn poll_target(base: &str, since: Option<u64>, wait: &str, target: &mut String) {
    target.clear();
    target.push_str(base);
    if let Some(s) = since {
        // As `Target::path_with`.
        target.push(if base.contains('?') { '&' } else { '?' });
        target.push_str("since=");
        push_decimal(target, s);
        target.push_str(wait);
    }
}

/// Appends `n` in decimal (`format!` costs more than the rest of the
/// target together).
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// A subscriber's poll connection.
enum PollConn {
    /// Its own HTTP/1.1 connection, through the lean client.
    H1(H1Conn),
    /// Streams of a shared HTTP/2 connection (`--http2`), through hyper.
    H2(SubConn),
}

impl PollConn {
    async fn connect(sub: &Sub, h1: bool) -> Result<PollConn, Kind> {
        if !h1 {
            return sub.http_connect().await.map(PollConn::H2);
        }
        let env = &sub.env;
        H1Conn::connect(
            env.addr,
            env.plan.sub.tls.as_ref(),
            env.plan.timeout,
            &sub.io,
        )
        .await
        .map(PollConn::H1)
    }

    /// Sends a poll of `target` and reads the whole answer (at most
    /// [`MAX_BODY`]), all within `timeout`. `head` is the rendered head of
    /// HTTP/1.1 polls.
    async fn fetch(
        &mut self,
        plan: &Plan,
        vars: &Vars<'_>,
        head: Option<&PollHead>,
        target: &str,
        timeout: Duration,
    ) -> Result<Answer, Kind> {
        match (self, head) {
            (PollConn::H1(c), Some(head)) => c.fetch(head, target, timeout, MAX_BODY).await,
            (PollConn::H1(_), None) => Err(Kind::Borrowed("protocol")),
            (PollConn::H2(c), _) => {
                let req = plan
                    .request_headers(RequestKind::Poll, get(&plan.sub.authority, target), vars)
                    .body(Default::default())
                    .map_err(|_| Kind::Borrowed("protocol"))?;
                // Boxed: hyper's future would make every HTTP/1.1 poll's
                // future as large, and it is moved on each poll.
                Box::pin(fetch_h2(c, req, timeout)).await
            }
        }
    }
}

/// Sends a poll through hyper and reads the whole answer (at most
/// [`MAX_BODY`]), all within `timeout`.
async fn fetch_h2(
    conn: &mut SubConn,
    req: http::Request<http_body_util::Empty<bytes::Bytes>>,
    timeout: Duration,
) -> Result<Answer, Kind> {
    let (head, body) = conn.fetch(req, timeout, MAX_BODY).await?;
    let status = head.status.as_u16();
    let close = head
        .headers
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
    Ok(Answer {
        status,
        retry_after: retry_after(status, &head.headers),
        close,
        body,
    })
}

/// Counts a bad answer; during the ramp-up it uses up an attempt.
fn failed(sub: &mut Sub, kind: Kind) -> Next {
    if sub.failed(kind) {
        Next::Backoff
    } else {
        Next::Stop
    }
}

/// Fixed-rate ticks starting at a random point of the first interval.
fn short_poll_ticker(period: Duration) -> Interval {
    let phase = period.mul_f64(rand::random::<f64>());
    let mut t = tokio::time::interval_at(Instant::now() + phase, period);
    t.set_missed_tick_behavior(MissedTickBehavior::Skip);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_as_format_writes_them() {
        for n in [0, 7, 10, 42, 1_000_000, u64::MAX] {
            let mut s = String::from("x=");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x={n}"));
        }
    }
}
