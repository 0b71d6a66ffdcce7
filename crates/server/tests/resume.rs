//! A client that disconnects and resumes from the last seq it saw loses
//! nothing and gets nothing twice.

use pushpoll_testkit::{metric, metrics_until, TestServer};
use pushpoll_wire::Kind;

use crate::support::*;

fn batch(from: usize, n: usize) -> Vec<(Kind, Vec<u8>)> {
    (from..from + n)
        .map(|i| {
            let kind = if i % 2 == 0 { Kind::Text } else { Kind::Binary };
            (kind, format!("resume {i}").into_bytes())
        })
        .collect()
}

#[tokio::test]
async fn websocket_v1_since() {
    let server = TestServer::start_default().await;
    let first = batch(0, 10);
    publish_all(server.addr, &first).await;
    let mut ws = ws_connect(server.addr, "/ws?since=0", Some("pushpoll.v1")).await;
    assert_eq!(ws_next(&mut ws, true).await, Got::Hello(10));
    let mut last = 0;
    for (i, (kind, payload)) in first.iter().take(6).enumerate() {
        assert_eq!(
            ws_next(&mut ws, true).await,
            Got::Msg(i as u64 + 1, *kind, payload.clone())
        );
        last = i as u64 + 1;
    }
    drop(ws); // gone mid-stream, after seq 6

    let second = batch(10, 5);
    publish_all(server.addr, &second).await;
    let mut ws = ws_connect(
        server.addr,
        &format!("/ws?since={last}"),
        Some("pushpoll.v1"),
    )
    .await;
    assert_eq!(ws_next(&mut ws, true).await, Got::Hello(15));
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    for seq in 7..=15u64 {
        let (kind, payload) = &all[seq as usize - 1];
        assert_eq!(
            ws_next(&mut ws, true).await,
            Got::Msg(seq, *kind, payload.clone())
        );
    }
    // And then live.
    publish_all(server.addr, &batch(15, 1)).await;
    assert!(matches!(ws_next(&mut ws, true).await, Got::Msg(16, ..)));
}

#[tokio::test]
async fn websocket_plain_since_replays_then_continues() {
    let server = TestServer::start_default().await;
    let msgs = batch(0, 8);
    publish_all(server.addr, &msgs).await;
    let mut ws = ws_connect(server.addr, "/ws?since=5", None).await;
    for (kind, payload) in &msgs[5..] {
        assert_eq!(
            ws_next(&mut ws, false).await,
            Got::Plain(*kind, payload.clone())
        );
    }
    publish_all(server.addr, &batch(8, 1)).await;
    assert_eq!(
        ws_next(&mut ws, false).await,
        Got::Plain(Kind::Text, b"resume 8".to_vec())
    );
}

#[tokio::test]
async fn sse_last_event_id_wins_over_since() {
    let server = TestServer::start_default().await;
    let mut sse = Sse::open(server.addr, "/events?since=0", &[]).await;
    let first = batch(0, 10);
    publish_all(server.addr, &first).await;
    let got = sse.messages(4).await;
    let last_id = got.last().unwrap().0;
    assert_eq!(last_id, 4);
    drop(sse);

    let second = batch(10, 3);
    publish_all(server.addr, &second).await;
    // `since=1` would replay more; the header is what EventSource sends.
    let mut sse = Sse::open(server.addr, "/events?since=1", &[("last-event-id", "4")]).await;
    let all: Vec<_> = first.iter().chain(&second).cloned().collect();
    let got = sse.messages(9).await;
    for (i, (seq, kind, payload)) in got.into_iter().enumerate() {
        assert_eq!(seq, 5 + i as u64);
        assert_eq!((kind, payload), all[seq as usize - 1]);
    }
    let bad = Sse::open(server.addr, "/events", &[("last-event-id", "x")]).await;
    assert_eq!(bad.status, 400);
}

/// A stream cut before its first message still has a resume point (the
/// opening's `id:`): what was published while it reconnected arrives.
#[tokio::test]
async fn sse_cut_before_any_message_resumes_from_its_opening() {
    let server = TestServer::start_default().await;
    publish_all(server.addr, &batch(0, 3)).await;
    let mut sse = Sse::open(server.addr, "/events", &[]).await;
    assert!(sse.read_chunk().await);
    assert_eq!(sse.last_event_id(), Some("3"));
    drop(sse);
    let during = batch(3, 2);
    publish_all(server.addr, &during).await;
    let mut sse = Sse::open(server.addr, "/events", &[("last-event-id", "3")]).await;
    let got = sse.messages(2).await;
    assert_eq!(got.iter().map(|m| m.0).collect::<Vec<_>>(), [4, 5]);
    // A resumed stream's opening repeats the client's id, not the head: a
    // second cut before the replay must not skip it.
    let mut again = Sse::open(server.addr, "/events", &[("last-event-id", "1")]).await;
    assert!(again.read_chunk().await);
    assert_eq!(again.last_event_id(), Some("1"));
}

#[tokio::test]
async fn polls_since() {
    let server = TestServer::start_default().await;
    let msgs = batch(0, 6);
    publish_all(server.addr, &msgs).await;
    let a = get(server.addr, "/messages?since=0").await.poll();
    assert_eq!(a.messages.len(), 6);
    // Pretend only three were seen before a reconnect.
    let b = get(server.addr, "/messages?since=3&wait=5").await.poll();
    assert_eq!(
        b.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [4, 5, 6]
    );
    assert_eq!(b.messages[0].payload().unwrap(), msgs[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_replay_arrives_whole_and_in_order() {
    let server = TestServer::start_default().await;
    let mut publisher = ws_connect(server.addr, "/ws", None).await;
    for i in 0..1500u32 {
        ws_send(&mut publisher, Kind::Binary, &i.to_be_bytes()).await;
    }
    metrics_until(server.addr, "every frame to be published", |m| {
        metric(m, "pushpoll_last_seq", None) == 1500.0
    })
    .await;
    let mut ws = ws_connect(server.addr, "/ws?since=0", Some("pushpoll.v1")).await;
    assert_eq!(ws_next(&mut ws, true).await, Got::Hello(1500));
    for i in 0..1500u32 {
        let want = Got::Msg(u64::from(i) + 1, Kind::Binary, i.to_be_bytes().to_vec());
        assert_eq!(ws_next(&mut ws, true).await, want);
    }
}
