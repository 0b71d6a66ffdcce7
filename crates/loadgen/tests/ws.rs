//! WebSocket subscribers against a Node-`ws`-like relay that misbehaves on purpose.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use pushpoll_loadgen::{run, Hooks, Phase, Progress};
use pushpoll_testkit::eventually;

use crate::support::ws_relay::{Relay, Rules};
use crate::support::{never, opts};

fn set(keys: &[(usize, u32, u64)]) -> HashSet<(usize, u32, u64)> {
    keys.iter().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_losses_duplicates_reorders_and_socket_bytes() {
    // 4 subscribers (relay connections 0..3), 2 publishers, 10 messages:
    // publisher 0 sends seq 0..4, publisher 1 seq 0..4.
    let relay = Relay::start(Rules {
        drop: set(&[(0, 0, 2), (1, 1, 3)]),
        dup: set(&[(2, 0, 1)]),
        swap: set(&[(3, 1, 1)]),
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "4",
        "--publishers",
        "2",
        "--rate",
        "100",
        "--duration",
        "0.1",
        "--grace",
        "0.5",
        "--payload-bytes",
        "100",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();

    assert_eq!(r.transport, "ws");
    assert_eq!(r.subscribers_connected, 4);
    assert_eq!(r.published, 10);
    assert_eq!(r.publish_errors, 0);
    assert_eq!(r.expected_deliveries, 40);
    assert_eq!(r.lost, 2);
    assert_eq!(r.delivered, 38);
    assert_eq!(r.duplicated, 1);
    assert_eq!(r.reordered, 1);
    assert_eq!(r.unexpected, 0);
    assert_eq!(r.latency_us.count, 38);
    assert_eq!(r.requests, 4, "one handshake per subscriber");
    assert_eq!(r.empty_polls, 0);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.payload_bytes_per_delivered, Some(100.0));
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&r.latency_histogram)
        .unwrap();
    let h: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut raw.as_slice())
        .unwrap();
    assert_eq!(h.len(), 38);
    assert_eq!(h.max(), r.latency_us.max);

    // The generator dropped its sockets; once the relay has seen every one
    // close, both sides must agree on every byte.
    assert!(eventually(Duration::from_secs(10), || relay.all_closed()).await);
    assert_eq!(relay.subscriber_conns().len(), 4);
    let (read, written) = relay.subscriber_bytes();
    assert_eq!(
        r.bytes_up, read,
        "subscriber bytes written = relay bytes read"
    );
    assert_eq!(
        r.bytes_down, written,
        "subscriber bytes read = relay bytes written"
    );
    // Downstream: 38 frames of 100 B payload + 2 B header, the duplicate, 4 handshake answers.
    assert!(r.bytes_down > 39 * 102);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_payloads_are_the_bare_marker_and_idle_push_is_free() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "3",
        "--rate",
        "50",
        "--duration",
        "0.1",
        "--payload-bytes",
        "1",
        "--idle",
        "0.2",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.published, 5);
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.reordered),
        (15, 0, 0, 0)
    );
    assert!(
        r.payload_bytes_per_delivered.unwrap() > 10.0,
        "the marker itself"
    );
    assert!(r.idle.window_s > 0.0);
    assert_eq!(
        (r.idle.requests, r.idle.bytes),
        (0, 0),
        "nothing moves on an idle WebSocket"
    );
    assert_eq!(r.idle.requests_per_subscriber_minute, Some(0.0));
    assert_eq!(
        r.requests, 3,
        "handshakes happened before the idle window and still count"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_is_counted_and_reconnected() {
    let relay = Relay::start(Rules {
        close_after: set(&[(0, 0, 1)]),
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "2",
        "--rate",
        "20",
        "--duration",
        "0.5",
        "--grace",
        "0.5",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.published, 10);
    assert_eq!(r.errors.get("closed_1008"), Some(&1), "{:?}", r.errors);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.requests, 3, "two handshakes and one reconnect");
    assert_eq!(r.delivered + r.lost, r.expected_deliveries);
    assert!(
        r.delivered >= 10 + 2,
        "subscriber 1 got everything, subscriber 0 at least seq 0 and 1"
    );
    assert_eq!(r.duplicated, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_answered() {
    let relay = Relay::start(Rules {
        ping_on_connect: true,
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "3",
        "--rate",
        "50",
        "--duration",
        "0.1",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!((r.delivered, r.lost), (15, 0));
    // Subscribers and the publisher answer the relay's ping.
    assert!(eventually(Duration::from_secs(10), || relay.all_closed()).await);
    assert_eq!(relay.pongs(), 3 + 1);
    let (read, written) = relay.subscriber_bytes();
    assert_eq!(
        (r.bytes_up, r.bytes_down),
        (read, written),
        "pongs are counted too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_report_progress_and_server_cpu() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "2",
        "--rate",
        "50",
        "--duration",
        "0.1",
    ]);
    // The "server" spends exactly 1 s of CPU between the two readings.
    let reads = Arc::new(AtomicU64::new(0));
    let r2 = reads.clone();
    let phases = Arc::new(Mutex::new(Vec::<Phase>::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (p2, c2) = (phases.clone(), calls.clone());
    let hooks = Hooks {
        server_cpu: Some(Arc::new(move || {
            Some(Duration::from_secs(10 + r2.fetch_add(1, Relaxed)))
        })),
        progress: Some(Arc::new(move |p: &Progress| {
            c2.fetch_add(1, Relaxed);
            let mut v = p2.lock().unwrap();
            if v.last() != Some(&p.phase) {
                v.push(p.phase);
            }
        })),
        ..Default::default()
    };
    let r = run(&o, hooks, never()).await.unwrap();
    assert_eq!(r.delivered, 10);
    assert_eq!(reads.load(Relaxed), 2);
    assert_eq!(r.server_cpu_s, Some(1.0));
    assert_eq!(r.server_cpu_us_per_delivered, Some(100_000.0));
    assert_eq!(
        *phases.lock().unwrap(),
        vec![
            Phase::Connecting,
            Phase::Publishing,
            Phase::Grace,
            Phase::Done
        ]
    );
    assert!(calls.load(Relaxed) >= 4);
}

/// A gate in front of the relay that drops every connection until it opens.
async fn gate(to: std::net::SocketAddr, open: Arc<std::sync::atomic::AtomicBool>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            if !open.load(Relaxed) {
                drop(tcp);
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut up) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut up).await;
                }
            });
        }
    });
    format!("ws://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_cannot_connect_sends_late_and_skips_nothing() {
    // The publisher's way to the relay is shut for the first 300 ms of a
    // 0.5-s schedule: open loop means those messages go out late, with
    // their scheduled time, once it connects; none is skipped.
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publish_url = gate(relay.addr, open.clone()).await;
    let o = opts(&[
        "--url",
        &url,
        "--publish-url",
        &publish_url,
        "--subscribers",
        "3",
        "--rate",
        "40",
        "--duration",
        "0.5",
        "--grace",
        "1",
    ]);
    // The gate opens 300 ms after publishing starts (the hook is called at
    // each phase change, from the run's task).
    let armed = std::sync::atomic::AtomicBool::new(false);
    let hooks = Hooks {
        progress: Some(Arc::new(move |p: &Progress| {
            if p.phase == Phase::Publishing && !armed.swap(true, Relaxed) {
                let open = open.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    open.store(true, Relaxed);
                });
            }
        })),
        ..Hooks::default()
    };
    let r = run(&o, hooks, never()).await.unwrap();
    assert_eq!(r.subscribers_connected, 3);
    assert_eq!((r.published, r.publish_errors), (20, 0), "{:?}", r.errors);
    assert!(
        r.errors.keys().any(|k| k.starts_with("publisher_connect_")),
        "the failed connection attempts are counted apart: {:?}",
        r.errors
    );
    assert_eq!((r.planned_deliveries, r.unsent), (60, 0));
    assert_eq!((r.delivered, r.lost), (60, 0));
    assert_eq!(r.latency_us.count, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_without_a_marker_are_counted_apart() {
    // A server that broadcasts its own representation of each message: the
    // subscribers hear every one, none carries the marker.
    let relay = Relay::start(Rules {
        rewrite: true,
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "3",
        "--rate",
        "50",
        "--duration",
        "0.1",
        "--grace",
        "0.3",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!((r.published, r.delivered, r.lost), (5, 0, 15));
    assert_eq!(r.unmarked_frames, 15, "each subscriber heard all 5");
    assert_eq!(r.latency_us.count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_connect_steps_join_a_room_and_templates_wrap_the_payload() {
    // A room server: nothing is heard or relayed before a join, answered
    // with "joined". Publishers send JSON of the server's own format.
    let relay = Relay::start(Rules {
        join: Some(("\"join\"", "joined")),
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let base = [
        "--url",
        url.as_str(),
        "--subscribers",
        "3",
        "--rate",
        "50",
        "--duration",
        "0.1",
        "--grace",
        "0.5",
    ];
    // Without the join: connected, but the room says nothing.
    let r = run(&opts(&base), Hooks::default(), never()).await.unwrap();
    assert_eq!((r.subscribers_connected, r.delivered), (3, 0));

    let relay = Relay::start(Rules {
        join: Some(("\"join\"", "joined")),
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let mut args = base.to_vec();
    args[1] = url.as_str();
    args.extend([
        "--on-connect",
        r#"send:{"join":"lobby","user":"u{id}"}"#,
        "--on-connect",
        "expect:joined",
        "--publish-template",
        r#"{"type":"say","text":"{marker}"}"#,
    ]);
    let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!((r.subscribers_connected, r.published), (3, 5));
    assert_eq!((r.delivered, r.lost, r.unmarked_frames), (15, 0, 0));
    let mut joins: Vec<String> = relay
        .all_conns()
        .iter()
        .filter_map(|c| c.joined.lock().unwrap().clone())
        .collect();
    joins.sort();
    assert_eq!(
        joins,
        (0..4)
            .map(|i| format!(r#"{{"join":"lobby","user":"u{i}"}}"#))
            .collect::<Vec<_>>(),
        "subscribers 0..2 and the publisher, 3, each joined once with its {{id}}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expect_step_that_never_comes_is_a_named_error() {
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "2",
        "--rate",
        "10",
        "--duration",
        "0.1",
        "--on-connect",
        "expect:welcome",
        "--timeout",
        "0.3",
        "--ramp-timeout",
        "5",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.subscribers_connected, 0);
    assert_eq!(
        r.errors.get("on_connect_expect_timeout"),
        Some(&6),
        "3 ramp-up attempts each: {:?}",
        r.errors
    );
}
