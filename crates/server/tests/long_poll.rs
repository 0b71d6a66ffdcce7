//! Long polling holds until a message or `wait`, clamped to `long_poll_max`.
//! Time is paused: the runtime jumps the clock whenever everything waits, so
//! the holds are checked against the virtual clock and take no real time.

use std::time::Duration;

use pushpoll_server::{Config, Limits};
use pushpoll_testkit::{metric, metrics, TestServer};
use pushpoll_wire::Kind;
use tokio::time::Instant;

use crate::support::*;

#[tokio::test(start_paused = true)]
async fn holds_until_a_message_arrives() {
    let server = TestServer::start_default().await;
    let addr = server.addr;
    let started = Instant::now();
    let poll = tokio::spawn(async move { get(addr, "/messages?since=0&wait=30").await.poll() });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!poll.is_finished(), "answered with nothing to say");
    let m = metrics(addr).await;
    assert_eq!(metric(&m, "pushpoll_connections", Some("long_poll")), 1.0);

    publish_all(addr, &[(Kind::Text, b"news".to_vec())]).await;
    let answer = poll.await.unwrap();
    assert_eq!(answer.messages.len(), 1);
    assert_eq!(
        answer.messages[0].payload().unwrap(),
        (Kind::Text, b"news".to_vec())
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let m = metrics(addr).await;
    assert_eq!(metric(&m, "pushpoll_connections", Some("long_poll")), 0.0);
    assert_eq!(
        metric(&m, "pushpoll_deliveries_total", Some("long_poll")),
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn answers_empty_when_wait_runs_out() {
    let server = TestServer::start_default().await;
    let started = Instant::now();
    let answer = get(server.addr, "/messages?since=0&wait=2.5").await.poll();
    assert!(answer.messages.is_empty());
    assert_eq!((answer.last_seq, answer.next_since()), (0, 0));
    assert!(started.elapsed() >= Duration::from_millis(2500));
    let m = metrics(server.addr).await;
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("long_poll")),
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn wait_is_clamped_to_the_cap() {
    let server = TestServer::start(Config {
        limits: Limits {
            long_poll_max: Duration::from_secs(3),
            ..Limits::default()
        },
        ..Config::default()
    })
    .await;
    let started = Instant::now();
    let answer = get(server.addr, "/messages?since=0&wait=3600").await.poll();
    assert!(answer.messages.is_empty());
    let held = started.elapsed();
    assert!(
        held >= Duration::from_secs(3) && held < Duration::from_secs(3600),
        "{held:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_zero_and_no_since_answer_at_once() {
    let server = TestServer::start_default().await;
    let started = Instant::now();
    assert!(get(server.addr, "/messages?since=0&wait=0")
        .await
        .poll()
        .messages
        .is_empty());
    assert!(get(server.addr, "/messages?wait=20")
        .await
        .poll()
        .messages
        .is_empty());
    assert_eq!(started.elapsed(), Duration::ZERO);
    let m = metrics(server.addr).await;
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("short_poll")),
        1.0
    );
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("long_poll")),
        1.0
    );
}

#[tokio::test]
async fn bad_parameters_are_400_with_their_name() {
    let server = TestServer::start_default().await;
    for (query, name) in [
        ("since=-1", "`since`"),
        ("since=abc&wait=1", "`since`"),
        ("since=1&wait=forever", "`wait`"),
        ("since=1&wait=-2", "`wait`"),
        ("since=1&since=2", "`since`"),
    ] {
        let reply = get(server.addr, &format!("/messages?{query}")).await;
        assert_eq!(reply.status, 400, "{query}");
        assert!(reply.error().contains(name), "{query}: {}", reply.error());
    }
    let m = metrics(server.addr).await;
    // A malformed `wait` still marks a long-poll client.
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("long_poll")),
        3.0
    );
    assert_eq!(
        metric(&m, "pushpoll_requests_total", Some("short_poll")),
        2.0
    );
}
