//! The per-second timeline (`timeline` in the JSON, issue #16 item 1) and
//! the rate stages that shape it (item 2): every per-second count adds up
//! to the run's total, and lands in the second it belongs to.

use std::collections::HashSet;

use pushpoll_loadgen::{run, Hooks, RunResult};

use crate::support::ws_relay::{Relay, Rules};
use crate::support::{never, opts};

/// The timeline's columns add up to the run's totals.
pub fn assert_timeline_adds_up(r: &RunResult) {
    let t = &r.timeline;
    assert!(!t.is_empty(), "a run has a timeline");
    assert!(
        t.windows(2).all(|w| w[1].t_s == w[0].t_s + 1),
        "one entry per second, no gaps: {t:?}"
    );
    let sum = |f: fn(&pushpoll_results::TimelineEntry) -> u64| t.iter().map(f).sum::<u64>();
    assert_eq!(sum(|e| e.delivered), r.delivered, "delivered");
    assert_eq!(sum(|e| e.lost), r.lost, "lost");
    assert_eq!(sum(|e| e.published), r.published, "published");
    let max = t.iter().map(|e| e.latency_us.max).max().unwrap_or(0);
    // The run's HdrHistogram keeps 3 significant digits; the seconds' max is exact.
    let hdr = r.latency_us.max;
    assert!(
        max <= hdr && hdr - max <= hdr / 1000 + 1,
        "the slowest second holds the run's max: {max} vs {hdr}"
    );
    for e in t {
        assert!(e.latency_us.p50 <= e.latency_us.p99 && e.latency_us.p99 <= e.latency_us.max);
        assert!(
            e.published == 0 || e.t_s >= 0,
            "nothing is scheduled before t_s 0"
        );
        assert!(
            e.delivered == 0 || e.t_s >= 0,
            "nothing arrives before publishing"
        );
    }
    assert!(
        sum(|e| e.requests) >= r.requests,
        "the timeline counts every request, ramp-up included"
    );
}

fn keys(k: &[(usize, u32, u64)]) -> HashSet<(usize, u32, u64)> {
    k.iter().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_and_losses_fall_in_their_seconds() {
    // 2 publishers at 10 msg/s for 2 s: run-wide message k = 2·seq + p is
    // due at k/10 s. Subscriber 0 misses k = 4 (second 0), subscriber 1
    // misses k = 15 (second 1).
    let relay = Relay::start(Rules {
        drop: keys(&[(0, 0, 2), (1, 1, 7)]),
        ..Rules::default()
    })
    .await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "3",
        "--publishers",
        "2",
        "--rate",
        "10",
        "--duration",
        "2",
        "--grace",
        "0.5",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(
        (r.published, r.lost, r.delivered),
        (20, 2, 58),
        "{:?}",
        r.errors
    );
    assert_timeline_adds_up(&r);
    let at = |s: i64| r.timeline.iter().find(|e| e.t_s == s).copied().unwrap();
    assert_eq!((at(0).published, at(1).published), (10, 10));
    assert_eq!((at(0).lost, at(1).lost), (1, 1));
    assert_eq!(at(0).connected, 3);
    assert!(r.timeline[0].t_s < 0, "ramp-up comes before t_s 0");
    let csv = pushpoll_results::timeline::to_csv(&r.timeline);
    assert!(csv.starts_with("t_s,connected,published,delivered,lost,"));
    assert_eq!(csv.lines().count(), r.timeline.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_stages_shape_the_schedule() {
    // 0 → 10 msg/s over 1 s (5 messages), then 10 msg/s for 1 s (10).
    let relay = Relay::start(Rules::default()).await;
    let url = relay.url();
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "2",
        "--rate-stages",
        "1s:10,1s:10",
        "--grace",
        "0.5",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!(r.duration_s, 2.0, "the stages' sum replaces --duration");
    assert_eq!(
        (r.published, r.delivered, r.lost),
        (15, 30, 0),
        "{:?}",
        r.errors
    );
    assert_timeline_adds_up(&r);
    let published: Vec<u64> = r
        .timeline
        .iter()
        .filter(|e| (0..2).contains(&e.t_s))
        .map(|e| e.published)
        .collect();
    assert_eq!(published, [5, 10]);
    assert_eq!(r.publish_rate, 7.5, "the schedule's average");
}

#[tokio::test]
async fn bad_stages_are_refused_before_the_run() {
    for (stages, words) in [
        ("10s", "is not DUR:TARGET"),
        ("0s:5", "lasts zero time"),
        ("5s:-3", ">= 0"),
        ("5s:0,2s:0", "schedule no message"),
    ] {
        let o = opts(&["--url", "ws://127.0.0.1:9/ws", "--rate-stages", stages]);
        let e = run(&o, Hooks::default(), never())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--rate-stages") && e.contains(words),
            "{stages}: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churned_subscribers_expect_only_what_they_were_there_for() {
    // pushpoll's server on port 0; 5 plain WebSocket subscribers (they
    // rejoin afresh), 3 of them a second leave and rejoin at once, with a
    // half-second guard at each edge.
    let server = pushpoll_testkit::TestServer::start_default().await;
    let url = format!("ws://{}/ws", server.addr);
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "5",
        "--rate",
        "20",
        "--duration",
        "3",
        "--churn",
        "3",
        "--churn-guard",
        "0.5",
        "--grace",
        "1",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    let everyone = 5 * r.published;
    assert_eq!(r.published, 60, "{:?}", r.errors);
    assert_eq!(
        r.lost, 0,
        "a connected subscriber outside the guards misses nothing"
    );
    assert!(r.boundary > 0, "churned subscribers have guard windows");
    assert!(r.expected_deliveries + r.boundary <= everyone);
    assert!(r.expected_deliveries < everyone, "churn takes some out");
    assert!(
        r.delivered >= r.expected_deliveries,
        "boundary arrivals count as delivered"
    );
    assert!(r.delivered <= everyone);
    assert!(r.requests > 5, "rejoins are new handshakes: {}", r.requests);
    assert_eq!(r.unsent, 0, "churn is not a refused publish");
    assert_timeline_adds_up(&r);
}

#[tokio::test]
async fn bad_churn_is_refused_before_the_run() {
    for (url, extra, words) in [
        (
            "ws://127.0.0.1:9/ws",
            &["--pattern", "echo"][..],
            "--pattern echo",
        ),
        (
            "ws://127.0.0.1:9/ws",
            &["--churn-guard=-1"][..],
            "--churn-guard",
        ),
    ] {
        let mut args = vec!["--url", url, "--churn", "2"];
        args.extend_from_slice(extra);
        let o = opts(&args);
        let e = run(&o, Hooks::default(), never())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(words), "{extra:?}: {e}");
    }
    let o = opts(&["--url", "ws://127.0.0.1:9/ws", "--churn=-1"]);
    let e = run(&o, Hooks::default(), never())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("--churn:") && e.contains(">= 0"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_subscribers_join_and_leave_on_the_publishing_clock() {
    // 0 → 4 subscribers over 1 s, 4 for 1.5 s, back to 0 over 1 s; 20 msg/s
    // for 3.5 s. The peak (4) replaces --subscribers.
    let server = pushpoll_testkit::TestServer::start_default().await;
    let url = format!("ws://{}/ws", server.addr);
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "99",
        "--rate",
        "20",
        "--duration",
        "3.5",
        "--subscriber-stages",
        "1s:4,1.5s:4,1s:0",
        "--churn-guard",
        "0.3",
        "--grace",
        "1",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert_eq!((r.subscribers, r.subscribers_connected), (4, 4));
    assert_eq!(r.published, 70, "{:?}", r.errors);
    assert_eq!(
        r.lost, 0,
        "present subscribers outside the guards miss nothing"
    );
    assert!(r.boundary > 0);
    assert!(
        r.expected_deliveries < 4 * 70 / 2,
        "nobody is there for the whole run"
    );
    assert!(r.expected_deliveries > 0);
    assert!(r.delivered >= r.expected_deliveries);
    assert_timeline_adds_up(&r);
    let at = |s: i64| r.timeline.iter().find(|e| e.t_s == s).copied().unwrap();
    assert_eq!(at(-1).connected, 0, "the stages start from 0");
    assert_eq!(at(1).connected, 4, "all four during the plateau");
    assert!(at(3).connected < 4, "leaving as the target falls");
}

#[tokio::test]
async fn bad_subscriber_stages_name_the_option() {
    for (stages, words) in [
        ("1s:0", "peak must be from 1"),
        ("2s", "is not DUR:TARGET"),
        ("0s:3", "zero time"),
    ] {
        let o = opts(&[
            "--url",
            "ws://127.0.0.1:9/ws",
            "--subscriber-stages",
            stages,
        ]);
        let e = run(&o, Hooks::default(), never())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--subscriber-stages") && e.contains(words),
            "{stages}: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churned_subscribers_that_resume_expect_everything() {
    // pushpoll.v1 subscribers resume after the last seq they saw: churn
    // takes nothing out of what they expect, and there is no guard.
    let server = pushpoll_testkit::TestServer::start_default().await;
    let base = server.addr;
    for (url, extra) in [
        (
            format!("ws://{base}/ws"),
            &["--ws-subprotocol", "pushpoll.v1"][..],
        ),
        (
            format!("http://{base}/messages"),
            &["--transport", "long-poll"][..],
        ),
        (
            format!("http://{base}/messages"),
            &["--transport", "short-poll", "--poll-interval", "0.1"][..],
        ),
        (format!("http://{base}/events"), &["--transport", "sse"][..]),
    ] {
        let mut args = vec![
            "--url",
            &url,
            "--subscribers",
            "5",
            "--rate",
            "20",
            "--duration",
            "3",
            "--churn",
            "3",
            "--grace",
            "1.5",
        ];
        args.extend_from_slice(extra);
        let r = run(&opts(&args), Hooks::default(), never()).await.unwrap();
        assert_eq!(r.published, 60, "{extra:?} {:?}", r.errors);
        assert_eq!(r.expected_deliveries, 5 * 60, "{extra:?}: everything");
        assert_eq!(r.boundary, 0, "{extra:?}");
        assert_eq!(
            (r.delivered, r.lost, r.duplicated),
            (300, 0, 0),
            "{extra:?}"
        );
        assert!(r.requests > 5, "rejoins are new requests: {}", r.requests);
        assert_timeline_adds_up(&r);
    }
}
