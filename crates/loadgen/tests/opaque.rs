//! Servers the generator knows nothing about: ones that want a cookie, an
//! origin or a subprotocol, binary frames, and echo servers (`--pattern echo`).

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use pushpoll_loadgen::{run, Hooks, LoadError};
use pushpoll_testkit::eventually;

use crate::support::http_hub::{Hub, HubOpts};
use crate::support::ws_relay::{Relay, Rules};
use crate::support::{never, opts};

fn ws_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--url",
        url,
        "--subscribers",
        "3",
        "--rate",
        "50",
        "--duration",
        "0.1",
        "--grace",
        "0.5",
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_wants_a_cookie_gets_it_from_subscribers_and_publishers() {
    let relay = Relay::start(Rules {
        require_header: Some(("cookie", "session=s3cret")),
        select_subprotocol: Some("chat"),
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let args = ws_args(
        &url,
        &[
            "--header",
            "Cookie: session=s3cret",
            "--header",
            "X-Trace:1",
            "--origin",
            "http://localhost:8080",
            "--subprotocol",
            "chat",
            "--subprotocol",
            "other",
        ],
    );
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    assert_eq!((r.subscribers_connected, r.published), (3, 5));
    assert_eq!((r.delivered, r.lost, r.duplicated), (15, 0, 0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(relay.received.load(Relaxed), 5);
    let conns = relay.all_conns();
    assert_eq!(conns.len(), 4, "3 subscribers and 1 publisher");
    for c in &conns {
        let h = c.headers.lock().unwrap().clone().unwrap();
        assert_eq!(h.get("cookie").unwrap(), "session=s3cret");
        assert_eq!(h.get("x-trace").unwrap(), "1");
        assert_eq!(h.get("origin").unwrap(), "http://localhost:8080");
        assert_eq!(h.get("sec-websocket-protocol").unwrap(), "chat, other");
    }

    // Without the cookie every handshake is refused, and counted as such.
    let args = ws_args(&url, &["--ramp-timeout", "5"]);
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    assert_eq!(
        (r.subscribers_connected, r.published, r.delivered),
        (0, 0, 0)
    );
    assert_eq!(r.errors.get("bad_status_401"), Some(&9), "{:?}", r.errors);
    // Every attempt of the publisher is refused and counted apart; its
    // messages wait (open loop) and end unsent, each counted once.
    assert_eq!(r.publish_errors, 5);
    assert_eq!(r.errors.get("publish_unsent"), Some(&5), "{:?}", r.errors);
    assert!(r.errors.get("publisher_connect_bad_status_401") >= Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subprotocol_the_server_does_not_select_is_counted() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let args = ws_args(&url, &["--subprotocol", "chat", "--ramp-timeout", "5"]);
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    assert_eq!(r.subscribers_connected, 0);
    assert_eq!(r.errors.get("no_subprotocol"), Some(&9), "{:?}", r.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_publishers_send_binary_frames() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let r = run(
        &opts(&ws_args(&url, &["--binary"])),
        Hooks::default(),
        never(),
    )
    .await
    .unwrap();
    assert_eq!((r.published, r.delivered, r.lost), (5, 15, 0));
    assert_eq!(relay.binary_frames(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_subscribers_and_post_publishers_send_the_headers() {
    let hub = Hub::start(HubOpts {
        require_header: Some(("authorization", "Bearer t0k")),
        ..HubOpts::default()
    })
    .await;
    let url = hub.url("/messages");
    let base = [
        "--url",
        &url,
        "--transport",
        "long-poll",
        "--subscribers",
        "2",
        "--rate",
        "50",
        "--duration",
        "0.1",
        "--long-poll-wait",
        "1",
        "--ramp-timeout",
        "5",
    ];
    let mut args = base.to_vec();
    args.extend(["--header", "Authorization: Bearer t0k", "--origin", "null"]);
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    assert_eq!((r.published, r.delivered, r.lost), (5, 10, 0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(hub.state.refused.load(Relaxed), 0);
    let origins = hub.state.origins.lock().unwrap().clone();
    assert!(!origins.is_empty() && origins.iter().all(|o| o == "null"));

    let r = run(&opts(&base), Hooks::default(), never()).await.unwrap();
    assert_eq!((r.subscribers_connected, r.published), (0, 0));
    assert_eq!(r.errors.get("bad_status_401"), Some(&6), "{:?}", r.errors);
    assert_eq!(r.errors.get("publish_bad_status_401"), Some(&5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_counts_each_subscribers_own_round_trips() {
    // 4 subscribers share 20 messages (5 each); the echo server drops
    // subscriber 2's seq 1 and subscriber 0's seq 4.
    let relay = Relay::start(Rules {
        echo: true,
        drop_any: [(2, 1), (0, 4)].into_iter().collect::<HashSet<_>>(),
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--pattern",
        "echo",
        "--subscribers",
        "4",
        "--rate",
        "100",
        "--duration",
        "0.2",
        "--grace",
        "0.5",
        "--payload-bytes",
        "80",
        "--binary",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.subscribers_connected, 4);
    assert_eq!((r.published, r.publish_errors), (20, 0));
    assert_eq!(r.expected_deliveries, 20, "each message has one receiver");
    assert_eq!((r.delivered, r.lost), (18, 2));
    assert_eq!((r.duplicated, r.reordered, r.unexpected), (0, 0, 0));
    assert_eq!(r.latency_us.count, 18);
    assert_eq!(
        r.requests, 4,
        "one handshake per subscriber, no publisher sockets"
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(relay.received.load(Relaxed), 20);
    assert_eq!(relay.binary_frames(), 20);
    assert_eq!(relay.all_conns().len(), 4);
    // The subscribers' sockets carry both directions of the round trip.
    assert!(eventually(Duration::from_secs(10), || relay.all_closed()).await);
    let (read, written) = relay.all_conns().iter().fold((0, 0), |(r, w), c| {
        (r + c.bytes.read(), w + c.bytes.written())
    });
    assert_eq!((r.bytes_up, r.bytes_down), (read, written));
    assert!(r.bytes_up > 20 * 80 && r.bytes_down > 18 * 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_against_a_broadcast_relay_counts_others_messages_as_unexpected() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--pattern",
        "echo",
        "--subscribers",
        "2",
        "--rate",
        "40",
        "--duration",
        "0.1",
        "--grace",
        "0.5",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!((r.published, r.delivered, r.lost), (4, 4, 0));
    // Each gets the other's 2 messages too; the run ends as soon as both
    // have their own, so the last of the other's may come too late to count.
    assert!((2..=4).contains(&r.unexpected), "{}", r.unexpected);
}

async fn option_error(args: &[&str]) -> (&'static str, String) {
    match run(&opts(args), Hooks::default(), never()).await {
        Err(LoadError::InvalidOption { option, reason }) => (option, reason),
        other => panic!("{args:?}: {other:?}"),
    }
}

#[tokio::test]
async fn bad_headers_and_option_mixes_are_refused_clearly() {
    let ws = "ws://127.0.0.1:9/ws";
    for (args, option, says) in [
        (vec!["--header", "Cookie"], "header", "expected NAME:VALUE"),
        (
            vec!["--header", ": x"],
            "header",
            "name before ':' is empty",
        ),
        (
            vec!["--header", "Bad Name: x"],
            "header",
            "not a valid header name",
        ),
        (vec!["--header", "X-A: a\nb"], "header", "cannot carry"),
        (
            vec!["--header", "Host: other"],
            "header",
            "host cannot be set",
        ),
        (vec!["--header", "Origin: x"], "header", "use --origin"),
        (
            vec!["--header", "Sec-WebSocket-Protocol: x"],
            "header",
            "use --subprotocol",
        ),
        (
            vec!["--origin", "not an origin"],
            "origin",
            "expected an origin",
        ),
        (
            vec!["--subprotocol", "a,b"],
            "subprotocol",
            "not a valid subprotocol",
        ),
        (
            vec!["--subprotocol", "chat", "--ws-subprotocol", "pushpoll.v1"],
            "subprotocol",
            "one or the other",
        ),
        (
            vec!["--binary", "--publish-url", "http://127.0.0.1:9/messages"],
            "binary",
            "POST",
        ),
        (
            vec!["--pattern", "echo", "--publishers", "2"],
            "pattern",
            "drop --publishers",
        ),
        (
            vec!["--pattern", "echo", "--publish-url", "ws://127.0.0.1:9/x"],
            "pattern",
            "drop --publish-url",
        ),
    ] {
        let mut a = vec!["--url", ws];
        a.extend(args.iter().copied());
        let (o, reason) = option_error(&a).await;
        assert_eq!(o, option, "{args:?}");
        assert!(reason.contains(says), "{args:?}: {reason}");
    }
    let http = "http://127.0.0.1:9/messages";
    for (args, option) in [
        (
            vec!["--transport", "long-poll", "--subprotocol", "chat"],
            "subprotocol",
        ),
        (vec!["--transport", "sse", "--pattern", "echo"], "pattern"),
        (vec!["--transport", "short-poll", "--binary"], "binary"),
    ] {
        let mut a = vec!["--url", http];
        a.extend(args.iter().copied());
        assert_eq!(option_error(&a).await.0, option, "{args:?}");
    }
}
