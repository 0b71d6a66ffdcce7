//! WebSocket keep-alive: the server pings, answers pings, and drops a peer
//! that stays silent. Time is paused, so the intervals cost no real time.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{metric, metrics, within, TestServer};
use pushpoll_wire::Kind;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

fn quick_pings() -> Config {
    Config {
        limits: Limits {
            ws_ping_interval: Duration::from_secs(1),
            ws_pong_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Config::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_dropped() {
    let server = TestServer::start(quick_pings()).await;
    let mut ws = ws_connect(server.addr, "/ws", None).await;
    // Never read (so never pong) for a while.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let m = metrics(server.addr).await;
    assert_eq!(metric(&m, "pushpoll_connections", Some("ws")), 0.0);
    // What is left in the socket: the pings, then the end, and no Close.
    let mut pings = 0;
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(_)) | None => break,
        }
    }
    assert!(pings >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_pings_stays() {
    let server = TestServer::start(quick_pings()).await;
    let mut ws = ws_connect(server.addr, "/ws", None).await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        let mut texts = Vec::new();
        while let Some(Ok(msg)) = ws.next().await {
            match msg {
                // tungstenite queues the Pong; the next read sends it.
                Message::Ping(_) => pings += 1,
                Message::Text(t) => {
                    texts.push(t.to_string());
                    if t == "still here" {
                        break;
                    }
                }
                _ => {}
            }
        }
        (pings, texts)
    });
    tokio::time::sleep(Duration::from_secs(10)).await;
    let m = metrics(server.addr).await;
    assert_eq!(metric(&m, "pushpoll_connections", Some("ws")), 1.0);
    publish_all(server.addr, &[(Kind::Text, b"still here".to_vec())]).await;
    let (pings, texts) = reader.await.unwrap();
    assert!(pings >= 5, "{pings} pings in 10 s at one per second");
    assert_eq!(texts, ["still here"]);
}

#[tokio::test]
async fn the_server_answers_pings() {
    let server = TestServer::start_default().await;
    let mut ws = ws_connect(server.addr, "/ws", None).await;
    ws.send(Message::Ping(bytes::Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    let pong = within("a pong", ws.next()).await.unwrap().unwrap();
    assert_eq!(
        pong,
        Message::Pong(bytes::Bytes::from_static(b"are you there"))
    );
}
