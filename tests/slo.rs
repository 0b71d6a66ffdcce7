use pushpoll::compare::{self, CompareOpts};
use pushpoll::slo::Slo;
use pushpoll_loadgen::Transport;
use tokio_util::sync::CancellationToken;

use crate::quiet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_verdicts_name_the_target_missed() {
    let opts = CompareOpts {
        subscribers: vec![5],
        rate: vec![10.0],
        duration: Some(0.5),
        poll_interval: vec![0.5],
        long_poll_wait: None,
        payload_bytes: None,
        idle: Some(0.0),
        transports: vec![Transport::ShortPoll.into()],
        quick: true,
        server_threads: Some(1),
        json: None,
        rtt: vec![],
        out: None,
        slo: None,
        header_profile: None,
        variants: vec![],
        remote: Default::default(),
    };
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    let pass: Slo = "loss=0,dup=0,reorder=0,p99=60s".parse().unwrap();
    assert!(pass.check(&runs).is_empty());
    // Short polling every 0.5 s cannot deliver within 1 µs.
    let fail: Slo = "p50=1us,loss=0".parse().unwrap();
    let misses = fail.check(&runs);
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(
        misses[0].to_string().contains("p50 latency"),
        "{}",
        misses[0]
    );
}

/// A run that measured nothing, or only some of its subscribers, cannot meet
/// an SLO: its targets would pass vacuously.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_measured_nothing_misses_every_slo() {
    let opts = CompareOpts {
        subscribers: vec![3],
        rate: vec![10.0],
        duration: Some(0.3),
        poll_interval: vec![0.5],
        long_poll_wait: None,
        payload_bytes: None,
        idle: Some(0.0),
        transports: vec![Transport::Ws.into()],
        quick: true,
        server_threads: Some(1),
        json: None,
        rtt: vec![],
        out: None,
        slo: None,
        header_profile: None,
        variants: vec![],
        remote: Default::default(),
    };
    let runs = compare::run(&opts, CancellationToken::new(), &quiet())
        .await
        .unwrap();
    let slo: Slo = "loss=0,p99=60s".parse().unwrap();
    assert!(slo.check(&runs).is_empty());
    // No SLO, no verdict.
    assert!(Slo::default().check(&runs).is_empty());

    let mut partial = runs[0].clone();
    partial.subscribers = 5;
    let misses = slo.check(std::slice::from_ref(&partial));
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(
        misses[0]
            .to_string()
            .contains("only 3 of 5 subscribers connected"),
        "{}",
        misses[0]
    );

    // A third of the publishes refused (503): nothing accepted was lost,
    // but a third of the chat never arrived, and loss=0 must say so.
    let mut refused = runs[0].clone();
    refused.published = 2;
    refused.publish_errors = 1;
    refused.expected_deliveries = 6;
    refused.delivered = 6;
    refused.lost = 0;
    refused.planned_deliveries = 9;
    refused.unsent = 3;
    let misses = slo.check(std::slice::from_ref(&refused));
    assert_eq!(misses.len(), 1, "{misses:?}");
    let m = misses[0].to_string();
    assert!(m.contains("3 lost > 0"), "{m}");
    assert!(
        m.contains("3 unsent because it refused or never got 1 publishes"),
        "{m}"
    );
    let share: Slo = "loss=10%".parse().unwrap();
    assert!(share.check(std::slice::from_ref(&refused))[0]
        .to_string()
        .contains("3 lost of 9 > 10%"));

    let mut empty = runs[0].clone();
    empty.published = 0;
    empty.expected_deliveries = 0;
    empty.delivered = 0;
    let misses = slo.check(std::slice::from_ref(&empty));
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert!(
        misses[0]
            .to_string()
            .contains("nothing to measure: 0 messages"),
        "{}",
        misses[0]
    );
}
