//! One message end to end over loopback, per transport: publish, then the
//! subscriber has it. The server runs on its own runtime and thread (the
//! test kit's `TestServer::start_threaded`, one worker, as `compare`'s
//! embedded server with `--server-threads 1`) on `127.0.0.1:0`; the client
//! side runs on the bench's current-thread runtime. One element = one
//! delivered message.

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::Request;
use hyper_util::rt::TokioIo;
use pushpoll_testkit::TestServer;
use pushpoll_wire::poll::PollResponse;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

type Sender = SendRequest<Full<Bytes>>;

async fn http(addr: std::net::SocketAddr) -> Sender {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (send, conn) = http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    send
}

async fn get(send: &mut Sender, path: &str) -> Bytes {
    let req = Request::get(path)
        .header("host", "bench")
        .body(Full::default())
        .expect("request");
    let resp = send.send_request(req).await.expect("response");
    resp.into_body().collect().await.expect("body").to_bytes()
}

async fn post(send: &mut Sender, body: &'static str) {
    let req = Request::post("/messages")
        .header("host", "bench")
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request");
    let resp = send.send_request(req).await.expect("response");
    resp.into_body().collect().await.expect("body");
}

fn last_seq(body: &[u8]) -> u64 {
    serde_json::from_slice::<PollResponse>(body)
        .expect("poll JSON")
        .next_since()
}

fn delivery(c: &mut Criterion) {
    let server = TestServer::start_threaded(pushpoll_server::Config::default());
    let addr = server.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let payload = "~pp1.1.0.0.0~------------------------------------------------------";
    let mut g = c.benchmark_group("delivery");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function(BenchmarkId::new("ws", 64), |b| {
        let mut ws = rt.block_on(async {
            let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .expect("ws");
            ws
        });
        b.iter(|| {
            rt.block_on(async {
                ws.send(Message::text(payload)).await.expect("send");
                // The hub broadcasts to the sender too: wait for our own message.
                loop {
                    if let Some(Ok(Message::Text(_))) = ws.next().await {
                        break;
                    }
                }
            })
        });
    });

    g.bench_function(BenchmarkId::new("sse", 64), |b| {
        let (mut publisher, mut body) = rt.block_on(async {
            let mut sub = http(addr).await;
            let req = Request::get("/events")
                .header("host", "bench")
                .body(Full::default())
                .expect("request");
            let resp = sub.send_request(req).await.expect("response");
            (http(addr).await, resp.into_body())
        });
        b.iter(|| {
            rt.block_on(async {
                post(&mut publisher, payload).await;
                // Read frames until one carries an event (comments come first).
                loop {
                    let frame = body.frame().await.expect("open").expect("frame");
                    if frame
                        .data_ref()
                        .is_some_and(|d| d.windows(4).any(|w| w == b"id: "))
                    {
                        break;
                    }
                }
            })
        });
    });

    g.bench_function(BenchmarkId::new("long_poll", 64), |b| {
        let (mut publisher, mut poller, mut since) = rt.block_on(async {
            let mut poller = http(addr).await;
            let since = last_seq(&get(&mut poller, "/messages").await);
            (http(addr).await, poller, since)
        });
        b.iter(|| {
            rt.block_on(async {
                let path = format!("/messages?since={since}&wait=30");
                let held = get(&mut poller, &path);
                let (body, ()) = tokio::join!(held, post(&mut publisher, payload));
                since = last_seq(&body);
            })
        });
    });

    g.bench_function(BenchmarkId::new("short_poll", 64), |b| {
        let (mut publisher, mut poller, mut since) = rt.block_on(async {
            let mut poller = http(addr).await;
            let since = last_seq(&get(&mut poller, "/messages").await);
            (http(addr).await, poller, since)
        });
        b.iter(|| {
            rt.block_on(async {
                post(&mut publisher, payload).await;
                // The poll right after the publish: the best case of short polling.
                let body = get(&mut poller, &format!("/messages?since={since}")).await;
                since = last_seq(&body);
            })
        });
    });
    g.finish();
    drop(rt);
    drop(server);
}

criterion_group!(benches, delivery);
criterion_main!(benches);
