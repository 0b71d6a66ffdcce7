//! The typed construction of load options against the argv-based one it
//! replaced: every run `compare` can make gets the same `LoadOpts`.

use std::net::SocketAddr;

use pushpoll_loadgen::{LoadOpts, Transport};

use super::{plan, CompareOpts, Variant, Workload};

/// The load options as `compare` built them before they were typed: a
/// command line, parsed as a user's would be. Kept as the reference.
fn argv_reference(
    w: &Workload,
    transport: Transport,
    addr: SocketAddr,
    server: SocketAddr,
    extra: &[&str],
) -> LoadOpts {
    let url = match transport {
        Transport::Ws => format!("ws://{addr}/ws"),
        Transport::Sse => format!("http://{addr}/events"),
        Transport::LongPoll | Transport::ShortPoll => format!("http://{addr}/messages"),
    };
    let mut args = vec![
        "load".to_string(),
        format!("--url={url}"),
        format!("--transport={transport}"),
        format!("--subscribers={}", w.subscribers),
        format!("--rate={}", w.rate),
        format!("--duration={}", w.duration),
        format!("--poll-interval={}", w.poll_interval),
        format!("--long-poll-wait={}", w.long_poll_wait),
        format!("--payload-bytes={}", w.payload_bytes),
        format!("--idle={}", w.idle),
    ];
    let headers = match w.headers {
        super::BaseHeaders::Browser => "browser",
        super::BaseHeaders::Minimal => "minimal",
    };
    // A variant's flags replace the plain run's header profile and label.
    if extra.is_empty() {
        args.push(format!("--header-profile={headers}"));
    }
    if w.rtt_ms > 0.0 {
        args.push(format!("--publish-url=http://{server}/messages"));
        args.push(format!("--label=rtt {}ms, {headers} headers", w.rtt_ms));
    } else if extra.is_empty() {
        args.push(format!("--label={headers} headers"));
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    <LoadOpts as clap::Parser>::try_parse_from(args).expect("the reference parses")
}

/// The flags each variant adds to the command line (after the plain run's).
fn variant_reference_args(v: Variant) -> &'static [&'static str] {
    match v {
        Variant::LongPollHttp2 | Variant::ShortPollHttp2 | Variant::SseHttp2 => {
            &["--header-profile", "browser", "--http2"]
        }
        Variant::LongPollMinimal | Variant::ShortPollMinimal => &["--header-profile", "minimal"],
        _ => &["--header-profile", "browser"],
    }
}

/// `LoadOpts` has no `PartialEq`; its `Debug` shows every field (serde
/// might skip some), `-0.0` and `NaN` included.
fn same(a: &LoadOpts, b: &LoadOpts) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn opts() -> CompareOpts {
    CompareOpts {
        subscribers: vec![],
        rate: vec![],
        duration: None,
        poll_interval: vec![],
        long_poll_wait: None,
        payload_bytes: None,
        idle: None,
        rtt: vec![],
        transports: Transport::ALL.map(Into::into).to_vec(),
        quick: false,
        server_threads: None,
        json: None,
        out: None,
        slo: None,
        header_profile: None,
        variants: vec![],
        remote: Default::default(),
    }
}

/// Defaults, the quick preset, and sweeps with awkward numbers (shortest
/// round-trip decimals, exponents, negatives and infinities the run itself
/// refuses later).
fn cases() -> Vec<CompareOpts> {
    let quick = CompareOpts {
        quick: true,
        ..opts()
    };
    let sweep = CompareOpts {
        subscribers: vec![1, 10, 1000],
        rate: vec![0.1, 0.1 + 0.2, 1e-7, 2.5e21],
        duration: Some(0.1 + 0.2),
        poll_interval: vec![0.0005, 1.0 / 3.0],
        long_poll_wait: Some(7.25),
        payload_bytes: Some(1),
        idle: Some(0.0),
        rtt: vec![0.0, 12.5, 1.0 / 3.0],
        header_profile: Some(super::BaseHeaders::Minimal),
        ..opts()
    };
    let odd = CompareOpts {
        subscribers: vec![0],
        rate: vec![-1.0, f64::INFINITY],
        duration: Some(-0.0),
        poll_interval: vec![f64::NAN],
        long_poll_wait: Some(0.0),
        payload_bytes: Some(usize::MAX),
        idle: Some(-2.5),
        rtt: vec![f64::MAX],
        transports: vec![Transport::ShortPoll.into(), Transport::Ws.into()],
        quick: true,
        ..opts()
    };
    vec![opts(), quick, sweep, odd]
}

#[test]
fn every_planned_run_gets_the_options_the_command_line_gave() {
    let server: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut checked = 0;
    for case in cases() {
        for step in plan(&case) {
            let w = &step.workload;
            let target: SocketAddr = if w.rtt_ms > 0.0 {
                "[::1]:5000".parse().unwrap()
            } else {
                server
            };
            let typed = w.load_opts(step.transport, target, server);
            let reference = argv_reference(w, step.transport, target, server, &[]);
            assert!(
                same(&typed, &reference),
                "{step:?}:\n typed {typed:?}\n argv  {reference:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} runs checked");
}

#[test]
fn every_variant_gets_the_options_the_command_line_gave() {
    let addr: SocketAddr = "127.0.0.1:4001".parse().unwrap();
    for case in cases() {
        let w = Workload {
            rtt_ms: 0.0,
            ..Workload::matrix(&case)[0].clone()
        };
        for v in Variant::ALL {
            let label = format!("--label={}", v.title());
            let mut args: Vec<&str> = variant_reference_args(v).to_vec();
            args.push(&label);
            let reference = argv_reference(&w, v.transport(), addr, addr, &args);
            let typed = v.load_opts(&w, addr);
            assert!(
                same(&typed, &reference),
                "{v:?}:\n typed {typed:?}\n argv  {reference:?}"
            );
        }
    }
}

#[test]
fn the_default_is_the_quiet_then_the_busy_chat_with_browser_headers() {
    let m = Workload::matrix(&opts());
    assert_eq!(m, vec![Workload::QUIET, Workload::BUSY]);
    assert!(m.iter().all(|w| w.headers == super::BaseHeaders::Browser));
    // The quiet chat measures the gap between two messages 10 s apart.
    assert_eq!(Workload::QUIET.rate * Workload::QUIET.duration, 2.0);
    assert_eq!(super::total_runs(&opts()), 8);
    // A listed rate is a busy chat at that rate; variants add a run per
    // workload, once per (subscribers, rate) unless they short-poll.
    let swept = CompareOpts {
        rate: vec![1.0, 50.0],
        poll_interval: vec![0.5, 1.0],
        variants: vec![Variant::LongPollHttp2, Variant::ShortPollMinimal],
        ..opts()
    };
    let m = Workload::matrix(&swept);
    assert_eq!(m.len(), 4);
    assert!(m.iter().all(|w| w.duration == Workload::BUSY.duration));
    assert_eq!(super::variant_runs(&swept).len(), 2 + 4);
}
