//! Setup errors: bad options abort before anything is sent, with a message
//! that names the option.

use pushpoll_loadgen::{run, write_json, Hooks, LoadError, RunResult};
use pushpoll_testkit::dead_addr;

use crate::support::{never, opts};

async fn err(args: &[&str]) -> LoadError {
    run(&opts(args), Hooks::default(), never())
        .await
        .expect_err("options must be refused")
}

#[tokio::test]
async fn bad_numbers_are_refused_with_the_option_named() {
    let ws = "ws://127.0.0.1:9/ws";
    for (args, option) in [
        (vec!["--rate", "0"], "rate"),
        (vec!["--rate=-3"], "rate"),
        (vec!["--rate", "NaN"], "rate"),
        (vec!["--rate", "inf"], "rate"),
        (vec!["--rate", "1e9", "--duration", "10"], "rate"),
        (vec!["--duration", "0"], "duration"),
        (vec!["--subscribers", "0"], "subscribers"),
        (vec!["--subscribers", "1000001"], "subscribers"),
        (vec!["--publishers", "0"], "publishers"),
        (vec!["--poll-interval", "0"], "poll-interval"),
        (vec!["--timeout", "0"], "timeout"),
        (vec!["--idle=-1"], "idle"),
        (vec!["--grace=-1"], "grace"),
        (vec!["--ramp", "0"], "ramp"),
        (vec!["--connect-concurrency", "0"], "connect-concurrency"),
        (vec!["--publish-in-flight", "0"], "publish-in-flight"),
        (vec!["--publish-in-flight", "257"], "publish-in-flight"),
        (vec!["--payload-bytes", "999999999"], "payload-bytes"),
    ] {
        let mut a = vec!["--url", ws];
        a.extend(args.iter().copied());
        match err(&a).await {
            LoadError::InvalidOption { option: o, .. } => assert_eq!(o, option, "{args:?}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    let e = err(&["--url", ws, "--rate", "0"]).await;
    assert!(e.to_string().starts_with("--rate: "), "{e}");
}

#[tokio::test]
async fn urls_must_fit_the_transport() {
    for args in [
        &["--url", "http://127.0.0.1:9/ws"][..],
        &[
            "--url",
            "ws://127.0.0.1:9/messages",
            "--transport",
            "long-poll",
        ],
        &["--url", "ws://127.0.0.1:9/events", "--transport", "sse"],
        &["--url", "https://127.0.0.1:9/ws"],
        &["--url", "wss://127.0.0.1:9/events", "--transport", "sse"],
        &["--url", "not a url"],
        &[
            "--url",
            "ws://127.0.0.1:9/ws",
            "--publish-url",
            "ftp://127.0.0.1/x",
        ],
        &[
            "--url",
            "ws://127.0.0.1:9/ws",
            "--server-metrics-url",
            "ws://127.0.0.1/metrics",
        ],
    ] {
        assert!(
            matches!(err(args).await, LoadError::BadUrl { .. }),
            "{args:?}"
        );
    }
    // wss:// and https:// are accepted: see tls.rs.
}

#[tokio::test]
async fn results_round_trip_through_json() {
    let addr = dead_addr();
    let url = format!("http://{addr}/events");
    let o = opts(&[
        "--url",
        &url,
        "--transport",
        "sse",
        "--subscribers",
        "1",
        "--duration",
        "0.1",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    let path = std::env::temp_dir().join(format!("pushpoll-loadgen-{}.json", std::process::id()));
    write_json(&r, &path).unwrap();
    let back: RunResult = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    // serde_json may round the last bit of a float; everything else is exact.
    assert!((back.active_s - r.active_s).abs() < 1e-9);
    let mut r = r;
    r.active_s = back.active_s;
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-12,
        (a, b) => a == b,
    };
    assert!(close(back.generator_cpu_s, r.generator_cpu_s));
    r.generator_cpu_s = back.generator_cpu_s;
    assert_eq!(back, r);
    assert_eq!(back.errors.get("connect_refused"), Some(&3));
}
