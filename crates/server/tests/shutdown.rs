//! Shutdown: WebSockets get Close 1001, SSE streams end, held long polls are
//! answered, and `run` returns even when a client hangs.

use std::time::Duration;

use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{metric, metrics_until, within, TestServer};
use tokio::net::TcpStream;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_told_and_run_returns() {
    let server = TestServer::start(Config {
        limits: Limits {
            // Less than the time a hanging client may take to answer the
            // Close, so the deadline is what ends it.
            shutdown_grace: Duration::from_secs(1),
            close_timeout: Duration::from_secs(30),
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let addr = server.addr;
    let mut plain = ws_connect(addr, "/ws", None).await;
    let mut v1 = ws_connect(addr, "/ws", Some("pushpoll.v1")).await;
    assert_eq!(ws_next(&mut v1, true).await, Got::Hello(0));
    let hanging = ws_connect(addr, "/ws", None).await;
    let mut sse = Sse::open(addr, "/events", &[]).await;
    let poll = tokio::spawn(async move { get(addr, "/messages?since=0&wait=30").await });
    metrics_until(addr, "the long poll to be held", |m| {
        metric(m, "pushpoll_connections", Some("long_poll")) == 1.0
            && metric(m, "pushpoll_connections", Some("ws")) == 3.0
    })
    .await;

    let stopped = tokio::spawn(server.stop());
    for (ws, is_v1) in [(&mut plain, false), (&mut v1, true)] {
        let Got::Close(Some((code, reason))) = ws_next(ws, is_v1).await else {
            panic!("expected a close frame");
        };
        assert_eq!((code, reason.as_str()), (1001, "server shutting down"));
        // Reading on sends tungstenite's echo of the Close.
        assert_eq!(ws_next(ws, is_v1).await, Got::End);
    }
    assert!(sse.next().await.is_none(), "the SSE stream ends");
    let answer = within("the held poll", poll).await.unwrap().poll();
    assert!(answer.messages.is_empty());

    within("run to return", stopped).await.unwrap().unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
    drop(hanging);
}
