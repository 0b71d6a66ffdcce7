//! Socket.IO subscribers and publishers against a minimal Engine.IO v4
//! server, over each Engine.IO transport.

use std::sync::atomic::Ordering::Relaxed;

use pushpoll_loadgen::{run, Hooks};

use crate::support::engineio::{SioOpts, SioServer};
use crate::support::{never, opts};

async fn chat(mode: &str, extra: &[&str]) -> (SioServer, pushpoll_loadgen::RunResult) {
    let server = SioServer::start(SioOpts {
        ping_ms: 40,
        require_header: Some(("cookie", "io=1")),
        rename_to: None,
    })
    .await;
    let url = server.url();
    let mut args = vec![
        "--url",
        &url,
        "--transport",
        "socket.io",
        "--socketio-transport",
        mode,
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
        "--header",
        "Cookie: io=1",
    ];
    args.extend_from_slice(extra);
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    (server, r)
}

fn assert_exact(r: &pushpoll_loadgen::RunResult) {
    assert_eq!(r.transport, "socket.io");
    assert_eq!(r.subscribers_connected, 3);
    assert_eq!((r.published, r.publish_errors), (15, 0));
    assert_eq!((r.expected_deliveries, r.delivered, r.lost), (45, 45, 0));
    assert_eq!((r.duplicated, r.reordered, r.unexpected), (0, 0, 0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_counts_every_get_and_post_and_answers_pings() {
    let (server, r) = chat("polling", &[]).await;
    assert_exact(&r);
    let c = &server.counts;
    assert_eq!(
        c.refused.load(Relaxed),
        0,
        "the cookie went on every request"
    );
    assert_eq!(c.handshakes.load(Relaxed), 3);
    assert_eq!(c.ws_handshakes.load(Relaxed), 2, "publishers only");
    // Every subscriber request reached the server, and only those.
    let server_requests = c.handshakes.load(Relaxed) + c.gets.load(Relaxed) + c.posts.load(Relaxed);
    assert_eq!(r.requests, server_requests);
    // Each subscriber: handshake GET, POST 40, then at least one GET per
    // answer that carried a message, and a POST per ping answered.
    let sessions = server.all();
    let pongs: u64 = sessions.iter().map(|s| s.pongs.load(Relaxed)).sum();
    assert!(
        sessions.iter().all(|s| s.pongs.load(Relaxed) >= 1),
        "every session answered pings"
    );
    let publisher_pongs: u64 = sessions
        .iter()
        .filter(|s| s.events.load(Relaxed) > 0)
        .map(|s| s.pongs.load(Relaxed))
        .sum();
    assert_eq!(c.posts.load(Relaxed), 3 + pongs - publisher_pongs);
    assert!(r.empty_polls >= 3, "the poll that brings the 40 answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_only_is_one_request_per_subscriber() {
    let (server, r) = chat("websocket", &[]).await;
    assert_exact(&r);
    let c = &server.counts;
    assert_eq!(r.requests, 3);
    assert_eq!((c.handshakes.load(Relaxed), c.gets.load(Relaxed)), (0, 0));
    assert_eq!(c.ws_handshakes.load(Relaxed), 5);
    assert!(server.all().iter().all(|s| s.pongs.load(Relaxed) >= 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_opens_with_polling_then_receives_on_a_websocket() {
    let (server, r) = chat("upgrade", &["--socketio-event", "news"]).await;
    assert_exact(&r);
    let c = &server.counts;
    let upgraded = server
        .all()
        .iter()
        .filter(|s| s.upgraded.load(Relaxed))
        .count();
    assert_eq!(upgraded, 3);
    assert_eq!(c.handshakes.load(Relaxed), 3);
    assert_eq!(c.ws_handshakes.load(Relaxed), 5);
    // Handshake GET, POST 40, the GET that brought the answer (pings may
    // add a POST each before the upgrade), the WebSocket handshake.
    let server_requests =
        c.handshakes.load(Relaxed) + c.gets.load(Relaxed) + c.posts.load(Relaxed) + 3;
    assert_eq!(r.requests, server_requests);
    assert!(r.requests >= 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_events_of_the_chosen_name_are_deliveries() {
    for (rename, delivered) in [(None, 10), (Some("other"), 0)] {
        let server = SioServer::start(SioOpts {
            ping_ms: 1000,
            require_header: None,
            rename_to: rename,
        })
        .await;
        let url = server.url();
        let o = opts(&[
            "--url",
            &url,
            "--transport",
            "socket.io",
            "--socketio-transport",
            "websocket",
            "--subscribers",
            "2",
            "--rate",
            "50",
            "--duration",
            "0.1",
            "--grace",
            "0.3",
            "--socketio-event",
            "a",
            "--publish-url",
            &url,
        ]);
        let r = run(&o, Hooks::default(), never()).await.unwrap();
        assert_eq!(r.published, 5);
        assert_eq!(
            (r.delivered, r.lost),
            (delivered, 10 - delivered),
            "{rename:?}"
        );
        assert_eq!(r.unexpected, 0);
    }
}

#[tokio::test]
async fn socketio_options_are_checked() {
    use pushpoll_loadgen::LoadError;
    let http = "http://127.0.0.1:9";
    for (args, option) in [
        (
            vec![
                "--url",
                "ws://127.0.0.1:9/ws",
                "--socketio-transport",
                "polling",
            ],
            "socketio-transport",
        ),
        (
            vec!["--url", "ws://127.0.0.1:9/ws", "--socketio-event", "x"],
            "socketio-event",
        ),
        (
            vec![
                "--url",
                http,
                "--transport",
                "socket.io",
                "--socketio-event",
                "",
            ],
            "socketio-event",
        ),
        (
            vec!["--url", http, "--transport", "socket.io", "--binary"],
            "binary",
        ),
        (
            vec![
                "--url",
                http,
                "--transport",
                "socket.io",
                "--subprotocol",
                "x",
            ],
            "subprotocol",
        ),
        (
            vec![
                "--url",
                http,
                "--transport",
                "socket.io",
                "--pattern",
                "echo",
            ],
            "pattern",
        ),
    ] {
        match run(&opts(&args), Hooks::default(), never()).await {
            Err(LoadError::InvalidOption { option: o, .. }) => assert_eq!(o, option, "{args:?}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    for args in [
        vec!["--url", "ws://127.0.0.1:9/", "--transport", "socket.io"],
        vec![
            "--url",
            http,
            "--transport",
            "socket.io",
            "--publish-url",
            "ws://127.0.0.1:9/",
        ],
    ] {
        let r = run(&opts(&args), Hooks::default(), never()).await;
        assert!(
            matches!(r, Err(LoadError::BadUrl { .. })),
            "{args:?}: {r:?}"
        );
    }
}
