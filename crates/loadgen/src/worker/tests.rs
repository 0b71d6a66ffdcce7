use super::*;
use crate::config::plan::count_workers as count;
use clap::Parser as _;

fn opts(args: &[&str]) -> LoadOpts {
    LoadOpts::try_parse_from(["load", "--url", "ws://127.0.0.1:1/ws"].iter().chain(args)).unwrap()
}

#[test]
fn shares_add_up() {
    assert_eq!(shares(10, 3), vec![4, 3, 3]);
    assert_eq!(shares(19_000, 2).iter().sum::<usize>(), 19_000);
}

#[test]
fn worker_count_and_limits() {
    assert_eq!(count(&opts(&["--subscribers", "100"])).unwrap(), 0);
    let o = opts(&["--subscribers", "19000", "--subscribers-per-worker", "9500"]);
    assert_eq!(count(&o).unwrap(), 2);
    let o = opts(&["--subscribers", "19001", "--subscribers-per-worker", "9500"]);
    assert_eq!(count(&o).unwrap(), 3);
    let e = count(&opts(&[
        "--subscribers",
        "1000",
        "--subscribers-per-worker",
        "10",
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--subscribers-per-worker") && e.contains("at most 64"),
        "{e}"
    );
    let e = count(&opts(&["--subscribers-per-worker", "0"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 1"), "{e}");
    let e = count(&opts(&[
        "--subscribers",
        "20",
        "--subscribers-per-worker",
        "10",
        "--pattern",
        "echo",
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("echo"), "{e}");
}

/// A pool over one stand-in worker (`sleep`, which outlives the test's
/// clock) whose reader has already said it is gone; the sender stays
/// open, as read_events keeps it until after its Gone.
#[cfg(unix)]
fn pool_with_a_gone_worker() -> (Pool, mpsc::UnboundedSender<(usize, Event)>) {
    let child = tokio::process::Command::new("sleep")
        .arg("600")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (tx, events) = mpsc::unbounded_channel();
    tx.send((0, Event::Gone("its output ended".into())))
        .unwrap();
    let pool = Pool {
        pids: vec![child.id()],
        children: vec![child],
        stdins: vec![None],
        events,
        reports: vec![None],
        stopped: false,
        cpu_at_io: None,
    };
    (pool, tx)
}

/// A worker's Gone reaches the error even while the progress ticker
/// fires: settling it waits (here 2 s, the worker never exits) for an
/// exit status, and a `select!` that dropped that wait for a tick used
/// to drop the Gone too, so the run waited out its 35 s deadline and
/// reported "did not report in time" without naming the worker.
#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn a_gone_worker_survives_the_progress_ticker() {
    let live = Arc::new(Live::default());
    let hard = CancellationToken::new();
    let (mut pool, _tx) = pool_with_a_gone_worker();
    let e = pool
        .finish(
            &[],
            true,
            Duration::from_secs(1),
            0,
            &hard,
            &mut Reporter::quiet(live.clone()),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("its output ended") && e.contains("(pid "), "{e}");

    let (mut pool, _tx) = pool_with_a_gone_worker();
    let stop = CancellationToken::new();
    let e = pool
        .ramp(&stop, &hard, &mut Reporter::quiet(live))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("its output ended") && e.contains("(pid "), "{e}");
}

#[test]
fn worker_options_carry_the_share() {
    let o = opts(&[
        "--subscribers",
        "10",
        "--ramp",
        "100",
        "--source-ips",
        "127.0.0.2,127.0.0.3,127.0.0.4",
        "--json",
        "x.json",
    ]);
    let w = worker_opts(&o, 4, 4, 0xabc);
    assert_eq!(w.subscribers, 4);
    assert_eq!(w.ramp, Some(40.0));
    assert!(w.worker && w.json.is_none());
    assert_eq!(w.run_id, Some(0xabc));
    // Subscriber 4 of the run binds to 127.0.0.3 (4 mod 3 = 1).
    assert_eq!(w.source_ips[0].to_string(), "127.0.0.3");
    // The share survives the trip through JSON.
    let back: LoadOpts = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
    assert_eq!(back.subscribers, 4);
    assert_eq!(back.source_ips, w.source_ips);
}
