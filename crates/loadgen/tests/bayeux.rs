//! Bayeux subscribers and publishers against a minimal Bayeux server over
//! long-polling: exact delivery, every `POST` counted, and the ways a
//! server can fail a client (garbage, refused handshakes, huge answers,
//! forgotten clients).

use std::sync::atomic::Ordering::Relaxed;

use pushpoll_loadgen::{run, Hooks, RunResult};

use crate::support::bayeux::{BayeuxServer, Behaviour};
use crate::support::{never, opts};

/// 3 subscribers, 2 publishers, 15 messages (50/s for 0.3 s).
async fn chat(behaviour: Behaviour, extra: &[&str]) -> (BayeuxServer, RunResult) {
    let server = BayeuxServer::start(behaviour, 300).await;
    let url = server.url();
    let mut args = vec![
        "--url",
        &url,
        "--transport",
        "bayeux",
        "--subscribers",
        "3",
        "--publishers",
        "2",
        "--rate",
        "50",
        "--duration",
        "0.3",
        "--grace",
        "1",
        "--timeout",
        "2",
        "--ramp-timeout",
        "10",
    ];
    args.extend_from_slice(extra);
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    (server, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_delivers_everything_and_counts_every_post() {
    let (server, r) = chat(Behaviour::Good, &["--bayeux-channel", "/chat/{id}x"]).await;
    // Each subscriber has its own channel here, so nothing reaches them:
    // the channel is rendered per connection.
    let channels = server.counts.channels.lock().unwrap().clone();
    let mut sorted = channels.clone();
    sorted.sort();
    assert_eq!(sorted, ["/chat/0x", "/chat/1x", "/chat/2x"]);
    assert_eq!(r.delivered, 0);

    let (server, r) = chat(Behaviour::Good, &[]).await;
    assert_eq!(r.transport, "bayeux");
    assert_eq!(r.subscribers_connected, 3);
    assert_eq!((r.published, r.publish_errors), (15, 0));
    assert_eq!((r.expected_deliveries, r.delivered, r.lost), (45, 45, 0));
    assert_eq!((r.duplicated, r.reordered, r.unexpected), (0, 0, 0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let c = &server.counts;
    assert_eq!(*c.channels.lock().unwrap(), ["/pushpoll"; 3]);
    assert_eq!(
        c.handshakes.load(Relaxed),
        3 + 2,
        "subscribers and publishers"
    );
    assert_eq!(c.subscribes.load(Relaxed), 3);
    assert_eq!(c.publishes.load(Relaxed), 15);
    // Every subscriber POST (handshake, subscribe, connects) is a request;
    // the publishers' (a handshake each, then one per message) are not.
    assert_eq!(r.requests, c.posts.load(Relaxed) - 2 - 15);
    assert_eq!(r.requests, 3 + 3 + c.connects.load(Relaxed));
    assert!(r.bytes_down > 0 && r.bytes_up > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_delivers_everything_over_one_handshake_each() {
    let (server, r) = chat(Behaviour::Good, &["--bayeux-transport", "websocket"]).await;
    assert_eq!(r.subscribers_connected, 3);
    assert_eq!((r.published, r.publish_errors), (15, 0));
    assert_eq!((r.expected_deliveries, r.delivered, r.lost), (45, 45, 0));
    assert_eq!((r.duplicated, r.reordered, r.unexpected), (0, 0, 0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let c = &server.counts;
    assert_eq!(c.posts.load(Relaxed), 0, "nothing went over plain HTTP");
    assert_eq!(c.ws_handshakes.load(Relaxed), 3 + 2);
    assert_eq!(c.handshakes.load(Relaxed), 3 + 2);
    assert_eq!(c.publishes.load(Relaxed), 15);
    assert_eq!(r.requests, 3, "one WebSocket handshake per subscriber");
    assert_eq!(r.empty_polls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_template_is_the_data_of_each_publish() {
    let (_server, r) = chat(
        Behaviour::Good,
        &[
            "--publish-template",
            r#"{"user":"p{id}","text":"{marker}"}"#,
        ],
    )
    .await;
    assert_eq!((r.expected_deliveries, r.delivered, r.lost), (45, 45, 0));
    assert_eq!(r.unmarked_frames, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_client_handshakes_again_and_loses_nothing_after() {
    // Each subscriber's first connect is answered "Unknown client" (the
    // first 3 handshakes are the subscribers'; publishers connect after the
    // ramp-up): it handshakes and subscribes again before anything is
    // published.
    let (server, r) = chat(Behaviour::ForgetFirst(3), &["--idle", "1"]).await;
    assert_eq!(
        r.errors.get("bayeux_rehandshake"),
        Some(&3),
        "{:?}",
        r.errors
    );
    assert_eq!(server.counts.handshakes.load(Relaxed), 3 * 2 + 2);
    assert_eq!((r.expected_deliveries, r.delivered, r.lost), (45, 45, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advice_none_stops_the_subscriber() {
    let (server, r) = chat(Behaviour::AdviseNone, &[]).await;
    assert_eq!(r.subscribers_connected, 3);
    assert_eq!(
        r.errors.get("bayeux_advice_none"),
        Some(&3),
        "{:?}",
        r.errors
    );
    // One connect each, answered "do not come back", and nothing after.
    assert_eq!(server.counts.connects.load(Relaxed), 3);
    assert_eq!(server.counts.handshakes.load(Relaxed), 3 + 2);
    assert_eq!(r.published, 15);
}

fn assert_never_connected(r: &RunResult, kind: &str) {
    assert_eq!(r.subscribers_connected, 0);
    assert_eq!(
        r.errors.get(kind),
        Some(&9),
        "3 ramp-up attempts each: {:?}",
        r.errors
    );
    assert_eq!(r.published, 0);
    assert_eq!((r.expected_deliveries, r.delivered), (0, 0));
    assert_eq!(r.requests, 9, "one handshake request per attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_refused_handshakes_are_counted_not_fatal() {
    let (_s, r) = chat(Behaviour::Garbage, &[]).await;
    assert_never_connected(&r, "bayeux_bad_answer");
    assert!(
        r.errors
            .keys()
            .any(|k| k.starts_with("publisher_connect_bayeux_bad_answer")),
        "{:?}",
        r.errors
    );
    let (_s, r) = chat(Behaviour::RefuseHandshake, &[]).await;
    assert_never_connected(&r, "bayeux_handshake_failed");
    // The same over WebSocket: one handshake request per attempt too.
    let (_s, r) = chat(Behaviour::Garbage, &["--bayeux-transport", "websocket"]).await;
    assert_never_connected(&r, "bayeux_bad_answer");
    let (_s, r) = chat(
        Behaviour::RefuseHandshake,
        &["--bayeux-transport", "websocket"],
    )
    .await;
    assert_never_connected(&r, "bayeux_handshake_failed");
    // An answer past the size limit is not read into memory.
    let (_s, r) = chat(Behaviour::Huge, &[]).await;
    assert_never_connected(&r, "body_too_large");
}

#[test]
fn bad_bayeux_options_are_refused_before_the_run() {
    let plan_err = |args: &[&str]| {
        let mut v = vec!["--url", "http://127.0.0.1:9/faye", "--transport", "bayeux"];
        v.extend_from_slice(args);
        let o = opts(&v);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(run(&o, Hooks::default(), never()))
            .unwrap_err()
            .to_string();
        e
    };
    let e = plan_err(&["--bayeux-channel", "chat"]);
    assert!(
        e.starts_with("--bayeux-channel: \"chat\" must start with `/`"),
        "{e}"
    );
    let e = plan_err(&["--bayeux-channel", "/meta/connect"]);
    assert!(e.contains("/meta/"), "{e}");
    let e = plan_err(&["--bayeux-channel", "/chat/{nope}"]);
    assert!(e.contains("unknown placeholder {nope}"), "{e}");
    let e = plan_err(&["--publish-template", "text {marker}"]);
    assert!(
        e.starts_with("--publish-template: Bayeux publishers send the rendered template as the message's data, which must be JSON"),
        "{e}"
    );
    let e = plan_err(&["--on-connect", "send:hi"]);
    assert!(
        e.starts_with("--on-connect: Bayeux clients join by subscribing"),
        "{e}"
    );
    let o = opts(&[
        "--url",
        "ws://127.0.0.1:9/ws",
        "--bayeux-transport",
        "websocket",
    ]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(run(&o, Hooks::default(), never()))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--bayeux-transport: only Bayeux clients use it"),
        "{e}"
    );
}
