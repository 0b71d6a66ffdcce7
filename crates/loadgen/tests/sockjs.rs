//! SockJS subscribers and publishers against a minimal SockJS chat server,
//! over each SockJS transport, and against servers that misbehave.

use std::sync::atomic::Ordering::Relaxed;

use pushpoll_loadgen::{run, Hooks, LoadError, RunResult};

use crate::support::sockjs::{Fault, SockJsServer};
use crate::support::{never, opts};

async fn chat(server: &SockJsServer, mode: &str, extra: &[&str]) -> RunResult {
    let url = server.url();
    let mut args = vec![
        "--url",
        &url,
        "--transport",
        "sockjs",
        "--sockjs-transport",
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
        "--timeout",
        "2",
    ];
    args.extend_from_slice(extra);
    run(&opts(&args), Hooks::default(), never()).await.unwrap()
}

fn assert_exact(r: &RunResult) {
    assert_eq!(r.transport, "sockjs");
    assert_eq!(r.subscribers_connected, 3);
    assert_eq!((r.published, r.publish_errors), (15, 0));
    assert_eq!((r.expected_deliveries, r.delivered, r.lost), (45, 45, 0));
    assert_eq!((r.duplicated, r.reordered, r.unexpected), (0, 0, 0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhr_polling_delivers_everything_and_counts_every_post() {
    let server = SockJsServer::start(Fault::None, 128 << 10).await;
    let r = chat(&server, "xhr-polling", &[]).await;
    assert_exact(&r);
    let c = &server.counts;
    assert_eq!(c.info.load(Relaxed), 3, "subscribers ask /info first");
    assert_eq!(c.ws_handshakes.load(Relaxed), 2, "publishers only");
    assert_eq!(c.messages.load(Relaxed), 15);
    // Every subscriber request reached the server, and only those.
    assert_eq!(
        r.requests,
        c.info.load(Relaxed) + c.polls.load(Relaxed) + c.sends.load(Relaxed)
    );
    // The poll that opened each session, and at least one with messages.
    assert!(c.polls.load(Relaxed) >= 6, "{}", c.polls.load(Relaxed));
    assert!(r.empty_polls < c.polls.load(Relaxed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_is_info_plus_one_handshake_per_subscriber() {
    let server = SockJsServer::start(Fault::None, 128 << 10).await;
    let r = chat(&server, "websocket", &[]).await;
    assert_exact(&r);
    assert_eq!(r.requests, 6);
    assert_eq!(server.counts.ws_handshakes.load(Relaxed), 5);
    assert_eq!(server.counts.polls.load(Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhr_streaming_reopens_on_the_same_session_after_the_response_limit() {
    // A 4 KiB limit: the prelude alone nearly fills it, so every few
    // frames the server ends the answer and the subscriber posts again.
    let server = SockJsServer::start(Fault::None, 4 << 10).await;
    let r = chat(&server, "xhr-streaming", &["--payload-bytes", "1000"]).await;
    assert_exact(&r);
    let c = &server.counts;
    assert!(c.streams.load(Relaxed) > 6, "{}", c.streams.load(Relaxed));
    assert_eq!(
        r.requests,
        c.info.load(Relaxed) + c.streams.load(Relaxed),
        "every streaming POST is a request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_closes_every_connection_gets_new_ones() {
    for (mode, limit) in [("xhr-polling", 128 << 10), ("xhr-streaming", 4 << 10)] {
        let server = SockJsServer::start(Fault::CloseConnections, limit).await;
        let r = chat(&server, mode, &["--payload-bytes", "1000"]).await;
        assert_exact(&r);
        let c = &server.counts;
        let http_requests = c.info.load(Relaxed) + c.polls.load(Relaxed) + c.streams.load(Relaxed);
        // A subscriber may have sent its next request as the run stopped,
        // before the server's handler counted it: at most one each.
        let in_flight = r.requests.checked_sub(http_requests);
        assert!(
            in_flight.is_some_and(|n| n <= r.subscribers_connected),
            "{mode}: generator {} vs server {http_requests}",
            r.requests
        );
        let in_flight = in_flight.unwrap_or(0);
        // One connection per HTTP request, plus the publishers' WebSockets
        // (and perhaps one for each request still in flight).
        let conns = c.connections.load(Relaxed);
        assert!(
            (http_requests + 2..=http_requests + 2 + in_flight).contains(&conns),
            "{mode}: {conns} connections for {http_requests} requests, {in_flight} in flight"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_connect_steps_are_sockjs_messages() {
    let server = SockJsServer::start(Fault::None, 128 << 10).await;
    // Each connection announces itself and waits to hear its own echo.
    let steps = [
        "--on-connect",
        "send:hello {id}",
        "--on-connect",
        "expect:hello {id}",
    ];
    for mode in ["xhr-polling", "websocket"] {
        let before = server.counts.messages.load(Relaxed);
        let r = chat(&server, mode, &steps).await;
        assert_exact(&r);
        // 5 hellos (3 subscribers, 2 publishers) and 15 messages.
        assert_eq!(server.counts.messages.load(Relaxed) - before, 20, "{mode}");
    }
}

async fn broken(fault: Fault, mode: &str) -> RunResult {
    let server = SockJsServer::start(fault, 128 << 10).await;
    let url = server.url();
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "sockjs",
        "--sockjs-transport",
        mode,
        "--subscribers",
        "2",
        "--rate",
        "20",
        "--duration",
        "0.1",
        "--grace",
        "0.2",
        "--timeout",
        "1",
        "--ramp-timeout",
        "10",
        "--publish-url",
        "http://127.0.0.1:9/messages",
    ]);
    run(&o, Hooks::default(), never()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_servers_give_counted_sockjs_errors() {
    for (fault, mode, kind) in [
        (Fault::NoInfo, "xhr-polling", "sockjs_info_bad_status_404"),
        (Fault::Garbage, "xhr-polling", "sockjs_bad_frame"),
        (Fault::Garbage, "websocket", "sockjs_bad_frame"),
        (Fault::CloseAtOpen, "xhr-streaming", "sockjs_closed_3000"),
        (Fault::CloseAtOpen, "websocket", "sockjs_closed_3000"),
        (Fault::Oversized, "xhr-streaming", "sockjs_frame_too_large"),
        (Fault::Oversized, "xhr-polling", "sockjs_frame_too_large"),
        (Fault::Oversized, "websocket", "sockjs_frame_too_large"),
        (Fault::WebsocketOff, "xhr-polling", ""),
    ] {
        let r = broken(fault, mode).await;
        let sub_errors: u64 = r
            .errors
            .iter()
            .filter(|(k, _)| k.starts_with("sockjs_"))
            .map(|(_, n)| n)
            .sum();
        if kind.is_empty() {
            assert_eq!((r.subscribers_connected, sub_errors), (2, 0), "{fault:?}");
            continue;
        }
        // Each subscriber tried three times during the ramp-up, or (an
        // oversized frame after a good open) connected and then failed.
        assert_eq!(
            r.errors.get(kind).copied().unwrap_or(0),
            sub_errors,
            "{fault:?} {mode}: {:?}",
            r.errors
        );
        assert!(sub_errors >= 2, "{fault:?} {mode}: {:?}", r.errors);
        if fault != Fault::Oversized {
            assert_eq!(r.subscribers_connected, 0, "{fault:?} {mode}");
            assert_eq!(sub_errors, 6, "{fault:?} {mode}: {:?}", r.errors);
        }
    }
}

#[tokio::test]
async fn websocket_off_in_info_stops_a_websocket_run_before_it_starts() {
    let server = SockJsServer::start(Fault::WebsocketOff, 128 << 10).await;
    let url = server.url();
    let o = opts(&["--url", &url, "--transport", "sockjs"]);
    match run(&o, Hooks::default(), never()).await {
        Err(LoadError::InvalidOption { option, reason }) => {
            assert_eq!(option, "sockjs-transport");
            assert!(reason.contains("\"websocket\": false"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.counts.info.load(Relaxed), 1);
}

#[tokio::test]
async fn sockjs_options_are_checked() {
    let http = "http://127.0.0.1:9/chat";
    for (args, option) in [
        (
            vec![
                "--url",
                "ws://127.0.0.1:9/ws",
                "--sockjs-transport",
                "xhr-polling",
            ],
            "sockjs-transport",
        ),
        (
            vec!["--url", http, "--transport", "sockjs", "--http2"],
            "http2",
        ),
        (
            vec!["--url", http, "--transport", "sockjs", "--binary"],
            "binary",
        ),
        (
            vec![
                "--url",
                http,
                "--transport",
                "sockjs",
                "--publish-content-type",
                "application/json",
            ],
            "publish-content-type",
        ),
    ] {
        match run(&opts(&args), Hooks::default(), never()).await {
            Err(LoadError::InvalidOption { option: o, .. }) => assert_eq!(o, option, "{args:?}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    let r = run(
        &opts(&["--url", "ws://127.0.0.1:9/chat", "--transport", "sockjs"]),
        Hooks::default(),
        never(),
    )
    .await;
    assert!(matches!(r, Err(LoadError::BadUrl { .. })), "{r:?}");
}
