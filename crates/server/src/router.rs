//! One route per path, the request-level limits, and byte attribution.
//!
//! Adding a route takes three lines: a [`Route`] variant, its path in
//! [`resolve`], and its handler in [`route`].

use std::sync::Arc;

use http::header::ALLOW;
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use pushpoll_wire::query::{PollQuery, QueryError};

use crate::connection::ConnState;
use crate::metrics::Transport;
use crate::response::{self, Body};
use crate::transport::{poll, publish, sse, ws};
use crate::{page, Shared};

/// What a request asks for, decided from its method, path and query alone.
enum Route {
    /// `GET /ws`: WebSocket handshake.
    WebSocket(Result<PollQuery, QueryError>),
    /// `GET /events`: Server-Sent Events.
    Events(Result<PollQuery, QueryError>),
    /// `GET /messages`: short or long poll.
    Poll(Result<PollQuery, QueryError>, Transport),
    /// `POST /messages`.
    Publish,
    /// `GET /metrics`.
    Metrics,
    /// `GET /healthz`.
    Health,
    /// `GET /`, `/chat.js`, `/chat.css`: the chat page.
    Page(&'static page::Asset),
    /// A known path with a method it does not take.
    WrongMethod(&'static str),
    /// Anything else.
    NotFound,
}

impl Route {
    /// The `transport` label the request's bytes and count go to.
    fn transport(&self) -> Transport {
        match self {
            Route::WebSocket(_) => Transport::Ws,
            Route::Events(_) => Transport::Sse,
            Route::Poll(_, t) => *t,
            Route::Publish => Transport::Publish,
            Route::Metrics
            | Route::Health
            | Route::Page(_)
            | Route::WrongMethod(_)
            | Route::NotFound => Transport::Other,
        }
    }
}

fn resolve<B>(req: &Request<B>, limits: &crate::Limits) -> Route {
    let query = || PollQuery::parse(req.uri().query().unwrap_or(""));
    let method = req.method();
    let get = method == Method::GET;
    match req.uri().path() {
        "/ws" => Route::WebSocket(query()),
        "/events" if get => Route::Events(query()),
        "/events" => Route::WrongMethod("GET"),
        "/messages" if get => {
            let q = query();
            let long = match &q {
                Ok(q) => q.hold(limits.long_poll_max).is_some(),
                // Still a long-poll client, even if its `wait` is malformed.
                Err(_) => req.uri().query().is_some_and(|s| s.contains("wait=")),
            };
            let t = if long {
                Transport::LongPoll
            } else {
                Transport::ShortPoll
            };
            Route::Poll(q, t)
        }
        "/messages" if method == Method::POST => Route::Publish,
        "/messages" => Route::WrongMethod("GET, POST"),
        "/metrics" if get => Route::Metrics,
        "/healthz" if get => Route::Health,
        "/" if get => Route::Page(&page::CHAT_HTML),
        "/chat.js" if get => Route::Page(&page::CHAT_JS),
        "/chat.css" if get => Route::Page(&page::CHAT_CSS),
        "/metrics" | "/healthz" | "/" | "/chat.js" | "/chat.css" => Route::WrongMethod("GET"),
        _ => Route::NotFound,
    }
}

/// What [`route`] decided: an answer, or a poll still to be answered.
///
/// The big variants are boxed: a held long poll keeps its `Answer` (twice:
/// in hyper's boxed service future and in [`Answer::finish`]'s) for as long
/// as it is held, and should not pay room for a response or a request head
/// (memory per idle connection, `scripts/idle-memory.sh`).
pub(crate) enum Answer {
    /// The whole answer (WebSocket `101`, SSE stream, errors, metrics, ...).
    Ready(Box<Response<Body>>),
    /// `GET /messages`: answered at once or held, without the request head
    /// (but with the coding its `Accept-Encoding` allows).
    Poll(
        Result<PollQuery, QueryError>,
        Transport,
        Option<crate::compress::Coding>,
    ),
    /// `POST /messages`: the body is still to be read.
    Publish(Box<Request<Incoming>>),
    /// `GET /events`: a stream subscribed, to be run by whoever serves the
    /// connection (a task behind hyper, or the held-request front itself).
    Events(Box<sse::Opened>),
}

impl Answer {
    /// Finishes the answer (a long poll waits here) and ends the request's
    /// byte attribution.
    pub(crate) async fn finish(
        self,
        shared: &Arc<Shared>,
        conn: &Arc<ConnState>,
    ) -> Response<Body> {
        let resp = match self {
            Answer::Ready(resp) => *resp,
            Answer::Poll(q, t, coding) => shared
                .compression
                .apply(poll::poll(q, t, shared).await, coding),
            // Boxed: a held long poll's future has no room for a publish.
            Answer::Publish(req) => Box::pin(publish::publish(*req, shared)).await,
            Answer::Events(opened) => opened.spawn(shared, conn),
        };
        conn.attribution.finish();
        resp
    }
}

/// Decides how to answer one request, synchronously: hyper calls this as
/// soon as it has parsed the head. Never fails: every error is an answer.
///
/// The request head is dropped here unless the answer needs its body (a
/// publish). That matters for memory: the head's bytes point into hyper's
/// read buffer, and hyper, which reads on while a request is in flight (to
/// notice a client that hangs up), allocates a second 8 KiB buffer when
/// the first is still referenced. A held long poll keeps only the buffer
/// hyper reads into.
pub(crate) fn route(
    mut req: Request<Incoming>,
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
) -> Answer {
    let route = resolve(&req, &shared.limits);
    begin(&route, shared, conn);
    if let Some(refusal) = check_head(&req, &shared.limits) {
        return Answer::Ready(Box::new(refusal));
    }
    let resp = match route {
        Route::WebSocket(_) if req.version() == Version::HTTP_2 => response::error(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "WebSocket over HTTP/2 (RFC 8441) is not served: open /ws over HTTP/1.1",
        ),
        Route::WebSocket(q) => ws::handshake(&mut req, q, shared, conn),
        Route::Publish => return Answer::Publish(Box::new(req)),
        route => return answer_head(route, &req, shared),
    };
    Answer::Ready(Box::new(resp))
}

/// The paths whose `GET`s the held-request front (`conn::held`) answers
/// without hyper: polls and SSE streams, the requests a server holds.
pub(crate) fn is_held_path(path: &str) -> bool {
    matches!(path, "/messages" | "/events")
}

/// [`route`] for a request parsed without hyper (no body, no upgrade): the
/// same answers, limits and counts. `None`, uncounted, for a route that
/// needs hyper (a WebSocket handshake, a publish).
pub(crate) fn route_head(
    req: Request<()>,
    shared: &Arc<Shared>,
    conn: &Arc<ConnState>,
) -> Option<Answer> {
    let route = resolve(&req, &shared.limits);
    if matches!(route, Route::WebSocket(_) | Route::Publish) {
        return None;
    }
    begin(&route, shared, conn);
    Some(match check_head(&req, &shared.limits) {
        Some(refusal) => Answer::Ready(Box::new(refusal)),
        None => answer_head(route, &req, shared),
    })
}

/// Counts the request and starts attributing its bytes.
fn begin(route: &Route, shared: &Shared, conn: &ConnState) {
    let transport = route.transport();
    conn.attribution.begin(transport, &shared.metrics);
    shared.metrics.requests.add(transport, 1);
}

/// The answer to every route that needs only the request head.
fn answer_head<B>(route: Route, req: &Request<B>, shared: &Arc<Shared>) -> Answer {
    let resp = match route {
        Route::Events(q) => match sse::open(req, q, shared) {
            Ok(opened) => return Answer::Events(Box::new(opened)),
            Err(refusal) => *refusal,
        },
        Route::Poll(q, t) => {
            return Answer::Poll(q, t, shared.compression.negotiate(req.headers()))
        }
        Route::Metrics => response::text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            crate::metrics::render(&shared.metrics, &shared.hub),
        ),
        Route::Health => response::text(StatusCode::OK, "text/plain; charset=utf-8", "ok"),
        Route::Page(asset) => page::serve(asset),
        Route::WrongMethod(allow) => {
            let mut resp = response::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} {} is not served; use {allow}",
                    req.method(),
                    req.uri().path()
                ),
            );
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            resp
        }
        Route::NotFound => response::error(
            StatusCode::NOT_FOUND,
            format!(
                "no such path {:?}: try /ws, /events, /messages, /metrics or /healthz",
                req.uri().path()
            ),
        ),
        // Both need hyper's request (its body, its upgrade): `route` and
        // `route_head` answer them before coming here.
        Route::WebSocket(_) | Route::Publish => response::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this request needs the HTTP/1 server it did not reach",
        ),
    };
    Answer::Ready(Box::new(resp))
}

/// `431` when the request head is over [`Limits::max_header_bytes`] or
/// [`Limits::max_headers`](crate::Limits::max_headers).
///
/// hyper has parsed the head already (its own, harder limits are twice
/// these), so the size is counted back from the parsed parts; it matches the
/// bytes on the wire up to optional whitespace.
///
/// [`Limits::max_header_bytes`]: crate::Limits::max_header_bytes
fn check_head<B>(req: &Request<B>, limits: &crate::Limits) -> Option<Response<Body>> {
    let headers = req.headers();
    if headers.len() > limits.max_headers {
        return Some(response::error_and_close(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "{} request headers, more than the {} allowed",
                headers.len(),
                limits.max_headers
            ),
        ));
    }
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n ".len();
    let size = headers
        .iter()
        .fold(line + 2, |n, (k, v)| n + k.as_str().len() + v.len() + 4);
    (size > limits.max_header_bytes).then(|| {
        response::error_and_close(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "request head of about {size} bytes, more than the {} allowed: send fewer or shorter headers",
                limits.max_header_bytes
            ),
        )
    })
}
