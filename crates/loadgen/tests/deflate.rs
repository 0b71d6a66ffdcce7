//! `--ws-deflate`: a small broadcast server that accepts permessage-deflate
//! (or declines it, or sends a zip bomb) and compresses by hand with flate2,
//! as tungstenite cannot.

use std::net::SocketAddr;
use std::sync::Arc;

use flate2::{Compress, Compression, FlushCompress};
use futures_util::{SinkExt, StreamExt};
use pushpoll_loadgen::{run, Hooks, LoadError, RunResult};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::support::{never, opts};

/// How the server answers an offer of permessage-deflate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Accepts with `server_no_context_takeover`: every message on its own.
    Accept,
    /// Accepts without it: one compression context per connection.
    Takeover,
    /// Never answers the offer: plain WebSocket.
    Decline,
    /// Accepts, then sends every message as a 17 MiB inflation.
    Bomb,
}

/// Starts a broadcast server: every text message from any connection goes to
/// every connection, compressed to those that negotiated the extension.
async fn server(mode: Mode) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (hub, _) = broadcast::channel::<String>(4096);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let hub = hub.clone();
            let mut rx = hub.subscribe();
            tokio::spawn(async move {
                let accepted = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let a2 = accepted.clone();
                #[allow(clippy::result_large_err)]
                let cb = move |req: &http::Request<()>,
                               mut resp: http::Response<()>|
                      -> Result<http::Response<()>, http::Response<Option<String>>> {
                    let offered = req
                        .headers()
                        .get("sec-websocket-extensions")
                        .is_some_and(|v| v.to_str().unwrap().contains("permessage-deflate"));
                    let answer = match mode {
                        Mode::Decline => None,
                        Mode::Takeover => Some("permessage-deflate; client_no_context_takeover"),
                        Mode::Accept | Mode::Bomb => Some(
                            "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
                        ),
                    };
                    if let (true, Some(a)) = (offered, answer) {
                        resp.headers_mut()
                            .insert("sec-websocket-extensions", a.parse().unwrap());
                        a2.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(resp)
                };
                let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, cb).await else {
                    return;
                };
                let deflate = accepted.load(std::sync::atomic::Ordering::Relaxed);
                let (mut sink, mut stream) = ws.split();
                let reader = tokio::spawn(async move {
                    while let Some(Ok(m)) = stream.next().await {
                        if let Message::Text(t) = m {
                            let _ = hub.send(t.to_string());
                        }
                    }
                });
                let mut context = Compress::new(Compression::default(), false);
                while let Ok(text) = rx.recv().await {
                    let m = if deflate {
                        let body = if mode == Mode::Bomb {
                            let mut b = text.into_bytes();
                            b.resize(17 << 20, b'-');
                            b
                        } else {
                            text.into_bytes()
                        };
                        if mode != Mode::Takeover {
                            context.reset();
                        }
                        Message::Frame(compressed(&mut context, &body))
                    } else {
                        Message::text(text)
                    };
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
                reader.abort();
            });
        }
    });
    addr
}

/// One compressed text message (RFC 7692 §7.2.1: the `00 00 ff ff` tail off).
fn compressed(c: &mut Compress, body: &[u8]) -> Frame {
    let mut z = Vec::with_capacity(body.len() / 2 + 1024);
    let start = c.total_in();
    loop {
        let done = (c.total_in() - start) as usize;
        if z.capacity() - z.len() < 1024 {
            z.reserve(64 << 10);
        }
        c.compress_vec(&body[done..], &mut z, FlushCompress::Sync)
            .unwrap();
        if (c.total_in() - start) as usize == body.len() && z.ends_with(&[0, 0, 0xff, 0xff]) {
            break;
        }
    }
    z.truncate(z.len() - 4);
    let header = FrameHeader {
        is_final: true,
        rsv1: true,
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    Frame::from_payload(header, Bytes::from(z))
}

async fn load(addr: SocketAddr, payload: &str, extra: &[&str]) -> RunResult {
    let url = format!("ws://{addr}/ws");
    let mut args = vec![
        "--url",
        &url,
        "--subscribers",
        "4",
        "--rate",
        "100",
        "--duration",
        "0.2",
        "--grace",
        "2",
        "--payload-bytes",
        payload,
    ];
    args.extend_from_slice(extra);
    run(&opts(&args), Hooks::default(), never()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_messages_arrive_once_in_fewer_socket_bytes() {
    let addr = server(Mode::Accept).await;
    let plain = load(addr, "1024", &[]).await;
    let deflated = load(addr, "1024", &["--ws-deflate"]).await;
    for r in [&plain, &deflated] {
        assert_eq!(
            (r.delivered, r.lost, r.duplicated),
            (80, 0, 0),
            "{:?}",
            r.errors
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
    let w = deflated.wire.unwrap();
    assert_eq!(w.deflate_negotiated, Some(4));
    assert_eq!(plain.wire.unwrap().deflate_negotiated, None);
    // Counted inflated in the breakdown...
    assert_eq!(w.payload_bytes, 80 * 1024);
    // ...and compressed at the socket.
    assert!(
        deflated.bytes_down * 3 < plain.bytes_down,
        "deflate {} B, plain {} B",
        deflated.bytes_down,
        plain.bytes_down
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_keeping_its_context_is_followed() {
    let addr = server(Mode::Takeover).await;
    let r = load(addr, "300", &["--ws-deflate"]).await;
    assert_eq!((r.delivered, r.lost, r.duplicated), (80, 0, 0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.wire.unwrap().deflate_negotiated, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declining_server_is_read_as_plain_websocket() {
    let addr = server(Mode::Decline).await;
    let r = load(addr, "300", &["--ws-deflate"]).await;
    assert_eq!((r.delivered, r.lost, r.duplicated), (80, 0, 0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.wire.unwrap().deflate_negotiated, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_bomb_is_a_counted_deflate_error() {
    let addr = server(Mode::Bomb).await;
    let url = format!("ws://{addr}/ws");
    let r = run(
        &opts(&[
            "--url",
            &url,
            "--subscribers",
            "2",
            "--rate",
            "10",
            "--duration",
            "0.1",
            "--grace",
            // A debug-build server compressing 17 MiB on a loaded machine
            // takes seconds; the run waits the whole grace anyway (nothing
            // is ever delivered), so a longer one only makes it robust.
            "5",
            "--ws-deflate",
        ]),
        Hooks::default(),
        never(),
    )
    .await
    .unwrap();
    assert_eq!(r.delivered, 0);
    assert!(
        r.errors.get("deflate").copied().unwrap_or(0) >= 1,
        "{:?}",
        r.errors
    );
}

#[tokio::test]
async fn only_websocket_subscribers_offer_it() {
    for transport in ["sse", "long-poll", "short-poll", "socket.io"] {
        let e = run(
            &opts(&[
                "--url",
                "http://127.0.0.1:9",
                "--transport",
                transport,
                "--ws-deflate",
            ]),
            Hooks::default(),
            never(),
        )
        .await
        .expect_err("--ws-deflate is for ws only");
        assert!(
            matches!(
                &e,
                LoadError::InvalidOption {
                    option: "ws-deflate",
                    ..
                }
            ),
            "{transport}: {e}"
        );
    }
}
