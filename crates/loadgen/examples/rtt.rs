//! How each transport's latency grows with the network round trip: pushpoll's
//! server behind the delay proxy, one run per (delay, scenario), latency in
//! units of the one-way transit.
//!
//! ```sh
//! cargo run --release -p pushpoll-loadgen --example rtt -- --delays 20,50
//! ```
//!
//! Subscribers go through the proxy, publishers `POST` straight to the server,
//! so the latency measured (from the *scheduled* publish time) is the path
//! from the server to the subscriber and whatever the transport adds to it.
//! What RFC 6202 predicts, with `d` the one-way delay:
//! - WebSocket and SSE: `d` whatever the rate.
//! - Long polling, events spaced wider than a round trip: `d` (the request
//!   is already waiting at the server).
//! - Long polling, events back to back: an event that arrives just after a
//!   response left waits for that response (`d`) and the next request (`d`),
//!   then travels (`d`): up to `3d`, about `2d` on average.
//! - Short polling: the wait for the next poll to reach the server (on
//!   average half the interval), then `d`: interval and round trip add up.

use std::error::Error;
use std::net::SocketAddr;

use clap::Parser;
use pushpoll_loadgen::proxy::{Proxy, ProxyOpts};
use pushpoll_loadgen::{run, Hooks, LoadOpts, RunResult};

/// Command line of the example.
#[derive(Debug, Parser)]
struct Args {
    /// One-way delays to add, milliseconds.
    #[arg(long, value_delimiter = ',', default_value = "20,50")]
    delays: Vec<f64>,
    /// Seconds of publishing per run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Subscribers per run.
    #[arg(long, default_value_t = 20)]
    subscribers: usize,
    /// Short-poll interval, seconds.
    #[arg(long, default_value_t = 1.0)]
    poll_interval: f64,
}

/// One measured workload.
struct Scenario {
    name: &'static str,
    transport: &'static str,
    path: &'static str,
    /// Messages per second as a multiple of `1 / (2 d)`: below 1 events are
    /// spaced wider than a round trip, above 1 they come back to back.
    per_round_trip: f64,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "ws, spaced",
        transport: "ws",
        path: "/ws",
        per_round_trip: 0.2,
    },
    Scenario {
        name: "ws, back to back",
        transport: "ws",
        path: "/ws",
        per_round_trip: 4.0,
    },
    Scenario {
        name: "sse, spaced",
        transport: "sse",
        path: "/events",
        per_round_trip: 0.2,
    },
    Scenario {
        name: "long-poll, spaced",
        transport: "long-poll",
        path: "/messages",
        per_round_trip: 0.2,
    },
    Scenario {
        name: "long-poll, back to back",
        transport: "long-poll",
        path: "/messages",
        per_round_trip: 4.0,
    },
    Scenario {
        name: "short-poll, spaced",
        transport: "short-poll",
        path: "/messages",
        per_round_trip: 0.2,
    },
];

fn load_opts(
    s: &Scenario,
    proxy: SocketAddr,
    server: SocketAddr,
    delay_ms: f64,
    a: &Args,
) -> Result<LoadOpts, clap::Error> {
    let scheme = if s.transport == "ws" { "ws" } else { "http" };
    // Without a delay, pace as if the round trip were 10 ms.
    let rate = s.per_round_trip * 1000.0 / (2.0 * delay_ms.max(5.0));
    LoadOpts::try_parse_from([
        "load".to_string(),
        format!("--url={scheme}://{proxy}{}", s.path),
        format!("--transport={}", s.transport),
        format!("--publish-url=http://{server}/messages"),
        format!("--subscribers={}", a.subscribers),
        format!("--rate={rate}"),
        format!("--duration={}", a.duration),
        format!("--poll-interval={}", a.poll_interval),
        // Let every subscriber settle (a long poll held at the server)
        // before the first message, so start-up does not count as latency.
        "--idle=0.5".to_string(),
    ])
}

fn row(delay_ms: f64, s: &Scenario, r: &RunResult) {
    let l = &r.latency_us;
    let d_us = delay_ms * 1000.0;
    let ms = |us: f64| us / 1000.0;
    let transits = |us: f64| {
        if d_us > 0.0 {
            format!("{:.2}", us / d_us)
        } else {
            "-".into()
        }
    };
    println!(
        "{delay_ms:>6} | {:<24} | {:>6.1} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8.2} | {:>6} | {:>5} | {:>9} | {}",
        s.name,
        r.publish_rate,
        ms(l.mean),
        ms(l.p50 as f64),
        ms(l.p99 as f64),
        ms(l.max as f64),
        transits(l.mean),
        transits(l.max as f64),
        format!("{}/{}", r.delivered, r.expected_deliveries),
        r.lost,
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    // Server and proxy on one runtime, the load generator on another, so
    // neither queues behind the other's tasks.
    let net = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = net.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(pushpoll_server::run(
            listener,
            pushpoll_server::Config::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok::<_, std::io::Error>(addr)
    })?;
    println!(
        "{} subscribers, {} s per run, short-poll interval {} s; latency in ms and in one-way transits (d)",
        args.subscribers, args.duration, args.poll_interval
    );
    println!(
        "d (ms) | scenario                 | msg/s  | mean     | p50      | p99      | max      | mean/d | max/d | delivered | lost"
    );
    for &delay in &args.delays {
        let mut o = ProxyOpts::to(server);
        o.delay = delay;
        let proxy = net.block_on(Proxy::start(&o))?;
        for s in &SCENARIOS {
            let opts = load_opts(s, proxy.addr(), server, delay, &args)?;
            let r = load.block_on(run(&opts, Hooks::default(), std::future::pending()))?;
            row(delay, s, &r);
        }
        net.block_on(proxy.stop());
    }
    let _ = stop.send(());
    Ok(())
}
