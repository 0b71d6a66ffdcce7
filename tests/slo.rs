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
        transports: vec![Transport::ShortPoll],
        quick: true,
        server_threads: Some(1),
        json: None,
        rtt: vec![],
        out: None,
        slo: None,
        variants: vec![],
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
