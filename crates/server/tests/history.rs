//! Asking for what history no longer holds (too old) or never held (ahead)
//! is answered explicitly on every transport.

use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{metric, metrics, metrics_until, TestServer};
use pushpoll_wire::Kind;

use crate::support::*;

/// History of 5, 20 messages published: held are 16..=20.
async fn server_with_evictions() -> TestServer {
    let server = TestServer::start(Config {
        limits: Limits {
            history: 5,
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let msgs: Vec<_> = (0..20)
        .map(|i| (Kind::Text, format!("m{}", i + 1).into_bytes()))
        .collect();
    publish_all(server.addr, &msgs).await;
    server
}

#[tokio::test]
async fn polls_answer_410_and_409() {
    let server = server_with_evictions().await;
    let old = get(server.addr, "/messages?since=2").await;
    assert_eq!(old.status, 410);
    let body = old.json();
    assert_eq!(
        (body["oldest_seq"].as_u64(), body["last_seq"].as_u64()),
        (Some(16), Some(20))
    );
    assert!(old.error().contains("since=15"), "{}", old.error());
    // since = oldest - 1 is the first that works.
    let ok = get(server.addr, "/messages?since=15").await.poll();
    assert_eq!(ok.messages.first().map(|m| m.seq), Some(16));

    let ahead = get(server.addr, "/messages?since=99&wait=3").await;
    assert_eq!(ahead.status, 409);
    assert_eq!(ahead.json()["last_seq"].as_u64(), Some(20));
    assert!(ahead.json().get("oldest_seq").is_none());

    let m = metrics(server.addr).await;
    assert_eq!(
        metric(&m, "pushpoll_gap_notices_total", Some("short_poll")),
        1.0
    );
    assert_eq!(
        metric(&m, "pushpoll_gap_notices_total", Some("long_poll")),
        1.0
    );
}

#[tokio::test]
async fn sse_gap_event_then_replay_or_live() {
    let server = server_with_evictions().await;
    let mut sse = Sse::open(server.addr, "/events?since=2", &[]).await;
    let gap = sse.next().await.unwrap();
    assert_eq!(gap.event, "gap");
    let data: serde_json::Value = serde_json::from_str(&gap.data).unwrap();
    assert_eq!(
        data,
        serde_json::json!({"requested_since": 2, "oldest_seq": 16, "last_seq": 20})
    );
    let got = sse.messages(5).await;
    assert_eq!(
        got.iter().map(|m| m.0).collect::<Vec<_>>(),
        [16, 17, 18, 19, 20]
    );

    let mut ahead = Sse::open(server.addr, "/events", &[("last-event-id", "99")]).await;
    let gap = ahead.next().await.unwrap();
    let data: serde_json::Value = serde_json::from_str(&gap.data).unwrap();
    assert_eq!(
        data,
        serde_json::json!({"requested_since": 99, "oldest_seq": 21, "last_seq": 20})
    );
    publish_all(server.addr, &[(Kind::Text, b"live".to_vec())]).await;
    assert_eq!(
        ahead.messages(1).await,
        [(21, Kind::Text, b"live".to_vec())]
    );

    let m = metrics(server.addr).await;
    assert_eq!(metric(&m, "pushpoll_gap_notices_total", Some("sse")), 2.0);
}

#[tokio::test]
async fn v1_gap_frame_then_replay_or_live() {
    let server = server_with_evictions().await;
    let mut ws = ws_connect(server.addr, "/ws?since=2", Some("pushpoll.v1")).await;
    assert_eq!(ws_next(&mut ws, true).await, Got::Hello(20));
    assert_eq!(
        ws_next(&mut ws, true).await,
        Got::Gap {
            requested_since: 2,
            oldest_seq: 16
        }
    );
    for seq in 16..=20 {
        assert!(matches!(ws_next(&mut ws, true).await, Got::Msg(s, ..) if s == seq));
    }

    let mut ahead = ws_connect(server.addr, "/ws?since=99", Some("pushpoll.v1")).await;
    assert_eq!(ws_next(&mut ahead, true).await, Got::Hello(20));
    assert_eq!(
        ws_next(&mut ahead, true).await,
        Got::Gap {
            requested_since: 99,
            oldest_seq: 21
        }
    );
    publish_all(server.addr, &[(Kind::Binary, vec![7])]).await;
    assert_eq!(
        ws_next(&mut ahead, true).await,
        Got::Msg(21, Kind::Binary, vec![7])
    );
    // Gap notices are counted as such, not as deliveries: 16..=21 to the
    // first client, 21 to the second.
    let m = metrics_until(server.addr, "7 deliveries", |m| {
        metric(m, "pushpoll_deliveries_total", Some("ws")) >= 7.0
    })
    .await;
    assert_eq!(metric(&m, "pushpoll_deliveries_total", Some("ws")), 7.0);
    assert_eq!(metric(&m, "pushpoll_gap_notices_total", Some("ws")), 2.0);
}

#[tokio::test]
async fn plain_websocket_is_closed_with_4410_or_4409() {
    let server = server_with_evictions().await;
    let mut ws = ws_connect(server.addr, "/ws?since=2", None).await;
    let Got::Close(Some((code, reason))) = ws_next(&mut ws, false).await else {
        panic!("expected a close frame");
    };
    assert_eq!(code, 4410);
    assert!(reason.contains("oldest_seq=16"), "{reason}");

    let mut ws = ws_connect(server.addr, "/ws?since=99", None).await;
    let Got::Close(Some((code, reason))) = ws_next(&mut ws, false).await else {
        panic!("expected a close frame");
    };
    assert_eq!(code, 4409);
    assert!(reason.contains("last_seq=20"), "{reason}");

    let m = metrics(server.addr).await;
    assert_eq!(metric(&m, "pushpoll_gap_notices_total", Some("ws")), 2.0);
}
