//! Every transport delivers every message exactly once, in order, with its
//! kind, to many subscribers at once.

use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{within, TestServer};
use pushpoll_wire::Kind;

use crate::support::*;

const SUBSCRIBERS: usize = 20;

fn expected() -> Vec<(Kind, Vec<u8>)> {
    samples()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_plain() {
    let server = TestServer::start_default().await;
    let mut clients = Vec::new();
    for _ in 0..SUBSCRIBERS {
        clients.push(ws_connect(server.addr, "/ws", None).await);
    }
    let want = expected();
    publish_all(server.addr, &want).await;
    for mut ws in clients {
        let mut got = Vec::new();
        while got.len() < want.len() {
            match ws_next(&mut ws, false).await {
                Got::Plain(kind, payload) => got.push((kind, payload)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, want);
        ws_close(ws).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_v1() {
    let server = TestServer::start_default().await;
    let mut clients = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let mut ws = ws_connect(server.addr, "/ws", Some("pushpoll.v1")).await;
        assert_eq!(ws_next(&mut ws, true).await, Got::Hello(0));
        clients.push(ws);
    }
    let want = expected();
    let seqs = publish_all(server.addr, &want).await;
    for mut ws in clients {
        for (i, (kind, payload)) in want.iter().enumerate() {
            assert_eq!(
                ws_next(&mut ws, true).await,
                Got::Msg(seqs[i], *kind, payload.clone())
            );
        }
        ws_close(ws).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_senders_are_included_in_the_broadcast() {
    let server = TestServer::start_default().await;
    let mut a = ws_connect(server.addr, "/ws", None).await;
    let mut b = ws_connect(server.addr, "/ws", Some("pushpoll.v1")).await;
    assert_eq!(ws_next(&mut b, true).await, Got::Hello(0));
    ws_send(&mut a, Kind::Text, b"from a").await;
    ws_send(&mut b, Kind::Binary, &[1, 2, 3]).await;
    // Two publishers race, so only each one's own order is fixed: read both.
    let at_a = vec![ws_next(&mut a, false).await, ws_next(&mut a, false).await];
    assert!(
        at_a.contains(&Got::Plain(Kind::Text, b"from a".to_vec())),
        "{at_a:?}"
    );
    assert!(
        at_a.contains(&Got::Plain(Kind::Binary, vec![1, 2, 3])),
        "{at_a:?}"
    );
    let mut at_b = Vec::new();
    for _ in 0..2 {
        match ws_next(&mut b, true).await {
            Got::Msg(_, kind, payload) => at_b.push((kind, payload)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(at_b.contains(&(Kind::Text, b"from a".to_vec())));
    assert!(at_b.contains(&(Kind::Binary, vec![1, 2, 3])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events() {
    let server = TestServer::start_default().await;
    let mut clients = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let sse = Sse::open(server.addr, "/events", &[]).await;
        assert_eq!(sse.status, 200);
        assert_eq!(sse.headers["content-type"], "text/event-stream");
        assert_eq!(sse.headers["cache-control"], "no-store");
        clients.push(sse);
    }
    let want = expected();
    let seqs = publish_all(server.addr, &want).await;
    for mut sse in clients {
        let got = sse.messages(want.len()).await;
        for (i, (kind, payload)) in want.iter().enumerate() {
            assert_eq!(got[i], (seqs[i], *kind, payload.clone()));
        }
        assert!(sse
            .raw
            .starts_with(b": pushpoll last_seq=0\nid: 0\nretry: 1000\n\n"));
    }
}

/// Polls until `count` messages arrived, checking order and that nothing repeats.
async fn poll_all(
    addr: std::net::SocketAddr,
    count: usize,
    wait: Option<&str>,
) -> Vec<(u64, Kind, Vec<u8>)> {
    let mut http = Http::connect(addr).await;
    let mut since = 0;
    let mut got = Vec::new();
    while got.len() < count {
        let path = match wait {
            Some(w) => format!("/messages?since={since}&wait={w}"),
            None => format!("/messages?since={since}"),
        };
        let answer = http.get(&path).await.poll();
        for m in &answer.messages {
            assert_eq!(m.seq, since + 1, "gap or repeat after {since}");
            since = m.seq;
            let (kind, payload) = m.payload().unwrap();
            got.push((m.seq, kind, payload));
        }
        since = answer.next_since();
        if wait.is_none() && answer.messages.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    got
}

async fn polling(wait: Option<&'static str>) {
    // A small batch limit exercises `"more": true`.
    let server = TestServer::start(Config {
        limits: Limits {
            max_poll_batch: 7,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let want = expected();
    let mut pollers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        pollers.push(tokio::spawn(poll_all(server.addr, want.len(), wait)));
    }
    let seqs = publish_all(server.addr, &want).await;
    for p in pollers {
        let got = within("a poller", p).await.unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (kind, payload)) in want.iter().enumerate() {
            assert_eq!(got[i], (seqs[i], *kind, payload.clone()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling() {
    polling(Some("10")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_polling() {
    polling(None).await;
}

#[tokio::test]
async fn batches_say_more() {
    let server = TestServer::start(Config {
        limits: Limits {
            max_poll_batch: 3,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    publish_all(server.addr, &expected()[..5]).await;
    let first = get(server.addr, "/messages?since=0").await.poll();
    assert_eq!(first.messages.len(), 3);
    assert!(first.more);
    assert_eq!((first.last_seq, first.oldest_seq), (5, 1));
    let body = get(server.addr, "/messages?since=3").await;
    assert!(!body.poll().more);
    assert!(!String::from_utf8_lossy(&body.body).contains("more"));
    let none = get(server.addr, "/messages").await.poll();
    assert!(none.messages.is_empty());
    assert_eq!(none.next_since(), 5);
}

#[tokio::test(start_paused = true)]
async fn idle_sse_streams_get_keepalive_comments() {
    let server = TestServer::start_default().await;
    let mut sse = Sse::open(server.addr, "/events", &[]).await;
    while !sse.raw.ends_with(b"retry: 1000\n\n") {
        assert!(sse.read_chunk().await);
    }
    let started = tokio::time::Instant::now();
    assert!(sse.read_chunk().await);
    assert!(
        sse.raw.ends_with(b"\n\n: keepalive\n\n"),
        "{:?}",
        String::from_utf8_lossy(&sse.raw)
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(15));
    // Comments are not events: a message still comes through as the next one.
    publish_all(server.addr, &[(Kind::Text, b"after".to_vec())]).await;
    assert_eq!(sse.messages(1).await, [(1, Kind::Text, b"after".to_vec())]);
}
