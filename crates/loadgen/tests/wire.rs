//! The wire breakdown of a WebSocket run: payload, frame headers and
//! control frames counted exactly for known frames, TCP/IP from the kernel.

use pushpoll_loadgen::{run, Hooks};

use crate::support::ws_relay::{Relay, Rules};
use crate::support::{never, opts};

async fn ws_run(payload: &str, extra: &[&str]) -> pushpoll_loadgen::RunResult {
    let relay = Relay::start(Rules {
        ping_on_connect: true,
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let mut args = vec![
        "--url",
        &url,
        "--subscribers",
        "4",
        "--rate",
        "100",
        "--duration",
        "0.1",
        "--grace",
        "2",
        "--payload-bytes",
        payload,
        // The relay pings every connection once connected: let those land
        // (and be answered) before the window opens.
        "--idle",
        "0.3",
    ];
    args.extend_from_slice(extra);
    run(&opts(&args), Hooks::default(), never()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_sender_pays_one_masked_frame_per_message() {
    let r = ws_run("100", &[]).await;
    let s = r.sender.expect("a run with publishers counts them");
    // The handshake came before the window: no request per sent message,
    // and each message is its payload plus a 2-byte header and a 4-byte mask.
    assert_eq!(s.requests, 0);
    assert_eq!(r.published, 10);
    assert_eq!(r.payload_bytes_per_delivered, Some(100.0));
    assert_eq!(s.bytes_up, 10 * 106);
    assert_eq!(s.bytes_up_per_sent, Some(106.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_its_payload_plus_a_two_byte_header() {
    let r = ws_run("100", &[]).await;
    assert_eq!((r.delivered, r.lost), (40, 0));
    let w = r.wire.expect("a WebSocket run has a wire breakdown");
    assert_eq!(w.data_frames, 40);
    assert_eq!(w.payload_bytes, 40 * 100);
    assert_eq!(w.framing_bytes, 40 * 2);
    assert_eq!(w.bytes_per_message, Some(102.0));
    assert_eq!(w.framing_over_payload, Some(0.02));
    // The relay's pings came before the window.
    assert_eq!((w.control_bytes, w.other_bytes), (0, 0));
    let t = w.tcp.expect("TCP_INFO is readable on Linux");
    assert_eq!(t.sockets, 4);
    assert_eq!(
        t.bytes_received,
        40 * 102,
        "the kernel received exactly the frames"
    );
    assert_eq!(
        t.bytes_acked, 0,
        "the subscribers sent nothing in the window"
    );
    assert!(t.segments_in >= 1 && t.segments_in <= 40, "{t:?}");
    assert_eq!(t.header_bytes, (t.segments_in + t.segments_out) * 52);
    assert!(r.generator_cpu_s.is_some());
    assert!(r.generator_cpu_us_per_delivered.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_125_bytes_the_header_is_four_bytes() {
    let r = ws_run("300", &[]).await;
    let w = r.wire.unwrap();
    assert_eq!(
        (w.data_frames, w.payload_bytes, w.framing_bytes),
        (40, 12_000, 160)
    );
}
