//! Server-Sent Events subscribers, including resumption with `Last-Event-ID`.

use std::sync::atomic::Ordering::Relaxed;

use pushpoll_loadgen::{run, Hooks};

use crate::support::http_hub::{Hub, HubOpts};
use crate::support::{never, opts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_everything_on_one_request_each() {
    let hub = Hub::start(HubOpts::default()).await;
    let url = hub.url("/events");
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "sse",
        "--subscribers",
        "5",
        "--rate",
        "50",
        "--duration",
        "0.2",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.transport, "sse");
    assert_eq!(r.published, 10);
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.reordered, r.unexpected),
        (50, 0, 0, 0, 0)
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.requests, 5);
    assert_eq!(hub.state.sse_connects.load(Relaxed), 5);
    assert_eq!(r.empty_polls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_resumes_from_last_event_id_without_loss() {
    cut_stream_resumes(false).await;
}

/// Cut after the next event's `id:` line: that event never ended, so the
/// reconnect must ask from the one before it (as `EventSource` does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_inside_an_event_resumes_before_it() {
    cut_stream_resumes(true).await;
}

async fn cut_stream_resumes(mid_event: bool) {
    let hub = Hub::start(HubOpts {
        sse_cut_after: Some(3),
        sse_cut_mid_event: mid_event,
        ..HubOpts::default()
    })
    .await;
    let url = hub.url("/events");
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "sse",
        "--subscribers",
        "4",
        "--rate",
        "50",
        "--duration",
        "0.2",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.published, 10);
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.reordered),
        (40, 0, 0, 0)
    );
    assert_eq!(r.errors.get("eof"), Some(&4), "{:?}", r.errors);
    assert_eq!(r.requests, 8, "one reconnect each");
    assert_eq!(hub.state.sse_resumes.load(Relaxed), 4);
}
