//! A minimal server speaking pushpoll's HTTP protocol: `POST /messages`,
//! `GET /messages?since=S[&wait=W]` (short and long polls), `GET /events`
//! (SSE, resuming from `Last-Event-ID`) and `GET /metrics`. It counts what it
//! answers, and can be told to fail some publishes or cut SSE streams.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pushpoll_wire::poll::{PollResponse, PolledMessage, PublishResponse};
use pushpoll_wire::{sse, Kind};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Debug, Default, Clone, Copy)]
pub struct HubOpts {
    /// Every n-th `POST` is stored and relayed, but answered `500`.
    pub fail_every_nth_post: Option<u64>,
    /// Every n-th `POST` is refused with `503` and dropped (an overloaded
    /// deployment shedding load).
    pub refuse_every_nth_post: Option<u64>,
    /// An SSE stream opened without `Last-Event-ID` ends after this many events.
    pub sse_cut_after: Option<usize>,
    /// The cut stream ends inside the next event: its `id:` line and part of
    /// its data are sent, never its end.
    pub sse_cut_mid_event: bool,
    /// Every request without this header and value is answered `401`.
    pub require_header: Option<(&'static str, &'static str)>,
}

#[derive(Debug)]
pub struct State {
    opts: HubOpts,
    messages: Mutex<Vec<Bytes>>,
    last: watch::Sender<u64>,
    /// `GET /messages` requests received.
    pub polls: AtomicU64,
    /// Poll answers sent without messages.
    pub empty_answers: AtomicU64,
    /// `GET /events` requests received.
    pub sse_connects: AtomicU64,
    /// `GET /events` requests that carried `Last-Event-ID`.
    pub sse_resumes: AtomicU64,
    /// `POST /messages` requests received.
    pub posts: AtomicU64,
    /// `GET /metrics` requests received.
    pub scrapes: AtomicU64,
    /// Requests refused for want of the required header.
    pub refused: AtomicU64,
    /// `Origin` headers seen (one per request that had one).
    pub origins: Mutex<Vec<String>>,
    /// `Content-Type` of every `POST`, and its body.
    pub posted: Mutex<Vec<(String, Bytes)>>,
}

pub struct Hub {
    pub addr: SocketAddr,
    pub state: Arc<State>,
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

fn query(req: &Request<Incoming>, key: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

impl Hub {
    pub async fn start(opts: HubOpts) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            opts,
            messages: Mutex::default(),
            last: watch::channel(0).0,
            polls: AtomicU64::new(0),
            empty_answers: AtomicU64::new(0),
            sse_connects: AtomicU64::new(0),
            sse_resumes: AtomicU64::new(0),
            posts: AtomicU64::new(0),
            scrapes: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            origins: Mutex::default(),
            posted: Mutex::default(),
        });
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(st, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Hub { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl State {
    fn after(&self, since: u64) -> Vec<PolledMessage> {
        let msgs = self.messages.lock().unwrap();
        msgs.iter()
            .enumerate()
            .skip(since as usize)
            .map(|(i, p)| PolledMessage::new(i as u64 + 1, Kind::Text, p))
            .collect()
    }
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    if let Some(o) = req.headers().get("origin") {
        st.origins
            .lock()
            .unwrap()
            .push(o.to_str().unwrap_or_default().to_owned());
    }
    if let Some((name, value)) = st.opts.require_header {
        let ok = req
            .headers()
            .get_all(name)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v == value));
        if !ok {
            st.refused.fetch_add(1, Relaxed);
            return full(
                StatusCode::UNAUTHORIZED,
                "application/json",
                r#"{"error":"missing credentials"}"#,
            );
        }
    }
    match (req.method().as_str(), req.uri().path()) {
        ("POST", "/messages") => {
            let n = st.posts.fetch_add(1, Relaxed) + 1;
            let content_type = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            st.posted.lock().unwrap().push((content_type, body.clone()));
            if st.opts.refuse_every_nth_post.is_some_and(|k| n % k == 0) {
                return full(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "application/json",
                    r#"{"error":"overloaded"}"#,
                );
            }
            let seq = {
                let mut msgs = st.messages.lock().unwrap();
                msgs.push(body);
                msgs.len() as u64
            };
            st.last.send_replace(seq);
            if st.opts.fail_every_nth_post.is_some_and(|k| n % k == 0) {
                return full(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "application/json",
                    r#"{"error":"test"}"#,
                );
            }
            let body = serde_json::to_vec(&PublishResponse { seq }).unwrap();
            full(StatusCode::CREATED, "application/json", body)
        }
        ("GET", "/messages") => {
            st.polls.fetch_add(1, Relaxed);
            let since = query(&req, "since").map(|s| s.parse::<u64>().unwrap());
            let wait = query(&req, "wait").map_or(0.0, |w| w.parse::<f64>().unwrap());
            let messages = match since {
                None => Vec::new(),
                Some(since) => {
                    if wait > 0.0 {
                        let mut rx = st.last.subscribe();
                        let _ = tokio::time::timeout(
                            Duration::from_secs_f64(wait),
                            rx.wait_for(|l| *l > since),
                        )
                        .await;
                    }
                    st.after(since)
                }
            };
            if messages.is_empty() {
                st.empty_answers.fetch_add(1, Relaxed);
            }
            let last_seq = *st.last.borrow();
            let resp = PollResponse {
                messages,
                last_seq,
                oldest_seq: 1,
                more: false,
            };
            full(
                StatusCode::OK,
                "application/json",
                serde_json::to_vec(&resp).unwrap(),
            )
        }
        ("GET", "/events") => {
            st.sse_connects.fetch_add(1, Relaxed);
            let resume = req
                .headers()
                .get("last-event-id")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            if resume.is_some() {
                st.sse_resumes.fetch_add(1, Relaxed);
            }
            let cursor = resume.unwrap_or_else(|| *st.last.borrow());
            let limit = if resume.is_none() {
                st.opts.sse_cut_after
            } else {
                None
            };
            let rx = st.last.subscribe();
            let mut hello = Vec::new();
            sse::write_comment(&mut hello, &format!("test hub last_seq={cursor}"));
            let first =
                futures_util::stream::once(async move { Ok(Frame::data(Bytes::from(hello))) });
            let events = futures_util::stream::unfold(
                (st.clone(), rx, cursor, 0usize),
                move |(st, mut rx, cursor, sent)| async move {
                    if limit.is_some_and(|l| sent >= l) {
                        return None;
                    }
                    rx.wait_for(|l| *l > cursor).await.ok()?;
                    let mut out = Vec::new();
                    let mut cursor = cursor;
                    let mut sent = sent;
                    for m in st.after(cursor) {
                        if limit.is_some_and(|l| sent >= l) {
                            break;
                        }
                        let (kind, payload) = m.payload().unwrap();
                        sse::write_message(&mut out, m.seq, kind, &payload);
                        cursor = m.seq;
                        sent += 1;
                    }
                    if st.opts.sse_cut_mid_event && limit.is_some_and(|l| sent >= l) {
                        out.extend_from_slice(format!("id: {}\ndata: cu", cursor + 1).as_bytes());
                    }
                    Some((
                        Ok::<_, Infallible>(Frame::data(Bytes::from(out))),
                        (st, rx, cursor, sent),
                    ))
                },
            );
            use futures_util::StreamExt as _;
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-store")
                .body(BodyExt::boxed(StreamBody::new(first.chain(events))))
                .unwrap()
        }
        ("GET", "/metrics") => {
            let n = st.scrapes.fetch_add(1, Relaxed) + 1;
            let text = format!(
                "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}\n",
                n as f64 * 0.25
            );
            full(StatusCode::OK, "text/plain; version=0.0.4", text)
        }
        _ => full(
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"error":"not found"}"#,
        ),
    }
}
