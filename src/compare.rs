//! `pushpoll compare`: the same workload over every transport against one
//! in-process server, one after another, then one table.
//!
//! Runs are sequential, not concurrent, so each transport has the machine to
//! itself and the server's CPU time during a run belongs to that transport.
//! With `--url`, the same runs go to a server running elsewhere
//! ([`remote`]).

mod remote;
mod rtt;

use rtt::proxy_for;

pub use remote::{RemoteOpts, TransportSpec};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::LazyLock;

use anyhow::Context as _;
use clap::Args;
use pushpoll_loadgen::headers::HeaderProfile;
use pushpoll_loadgen::{LoadOpts, RunResult, Transport};
use pushpoll_proxy::Proxy;

use crate::embedded::EmbeddedServer;

/// Options of `pushpoll compare`. Every workload option left out takes the
/// embedded default, or the `--quick` preset with `--quick`.
#[derive(Debug, Clone, Args)]
pub struct CompareOpts {
    /// Subscribers per transport; a list (`10,100,1000`) sweeps
    /// [default: 200; quick: 50].
    #[arg(long, value_delimiter = ',')]
    pub subscribers: Vec<usize>,
    /// Messages per second across the room; a list sweeps [default: 5; quick: 10].
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,
    /// Seconds of publishing per transport [default: 8; quick: 1.5].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds between short polls; a list sweeps (short polling only)
    /// [default: 1; quick: 0.5].
    #[arg(long, value_delimiter = ',')]
    pub poll_interval: Vec<f64>,
    /// Seconds a long poll is held at most [default: 30].
    #[arg(long)]
    pub long_poll_wait: Option<f64>,
    /// Payload size, bytes [default: 64].
    #[arg(long)]
    pub payload_bytes: Option<usize>,
    /// Seconds of idle measurement before publishing [default: 3; quick: 0.5].
    #[arg(long)]
    pub idle: Option<f64>,
    /// Round-trip times to add, milliseconds (half each way, through an
    /// in-process delaying TCP proxy in front of the server); a list sweeps.
    /// Publishes go straight to the server, so latency shows the subscriber's
    /// path alone [default: 0].
    #[arg(long, value_delimiter = ',')]
    pub rtt: Vec<f64>,
    /// Transports to run, in order: `ws`, `sse`, `long-poll`, `short-poll`;
    /// with `--url` also a protocol's own transports as `PROTOCOL:MODE`
    /// (`socket.io:polling`, `bayeux:long-polling`, `sockjs:xhr-streaming`).
    #[arg(long, value_delimiter = ',', default_values = ["ws", "sse", "long-poll", "short-poll"])]
    pub transports: Vec<TransportSpec>,
    /// The small preset for tests and CI: the same comparison in about 10 s.
    #[arg(long)]
    pub quick: bool,
    /// Worker threads of the in-process server [default: all CPUs].
    #[arg(long)]
    pub server_threads: Option<usize>,
    /// Write every run as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write `report.md`, a self-contained `report.html` and the SVG charts
    /// into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Targets every transport must meet, e.g. `loss=0,dup=0`; a miss exits with code 3.
    #[arg(long)]
    pub slo: Option<crate::slo::Slo>,
    /// Variants run after the transports, one line each in a second table:
    /// polling as browsers do it (their headers, compressed answers). They
    /// take the first workload with half its publishing time and no idle
    /// window; `none` runs none [default: long-poll-browser,
    /// long-poll-browser-http2, short-poll-browser,
    /// short-poll-browser-uncompressed; quick: none]. The other HTTP/2 ones
    /// (`long-poll-http2`, `short-poll-http2`, `sse-http2`,
    /// `short-poll-browser-http2`) run when named.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub variants: Vec<Variant>,
    /// Against a server running elsewhere (`--url`).
    #[command(flatten)]
    pub remote: RemoteOpts,
}

/// A variant of a transport that `compare` runs besides the plain four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    /// Long polling with desktop Chromium's headers (`--header-profile
    /// browser`); answers come br-compressed.
    LongPollBrowser,
    /// Short polling with Chromium's headers; answers br-compressed.
    ShortPollBrowser,
    /// Short polling with Chromium's headers against a server that does not
    /// compress.
    ShortPollBrowserUncompressed,
    /// Long polling over HTTP/2 (`--http2`): subscribers multiplexed as
    /// streams, 100 to a connection, minimal headers.
    LongPollHttp2,
    /// Short polling over HTTP/2, minimal headers.
    ShortPollHttp2,
    /// SSE over HTTP/2, minimal headers.
    SseHttp2,
    /// Long polling over HTTP/2 with Chromium's headers (HPACK indexes
    /// most of them after the first poll); answers br-compressed.
    LongPollBrowserHttp2,
    /// Short polling over HTTP/2 with Chromium's headers; answers br-compressed.
    ShortPollBrowserHttp2,
    /// No variants.
    None,
}

impl Variant {
    /// What `compare` runs without `--variants`: the notes' world (HTTP/1.1
    /// with a browser's headers) and today's (HTTP/2) for long polling, and
    /// what compression does for short polling. About 25 s on 2 cores.
    pub const DEFAULT: [Variant; 4] = [
        Variant::LongPollBrowser,
        Variant::LongPollBrowserHttp2,
        Variant::ShortPollBrowser,
        Variant::ShortPollBrowserUncompressed,
    ];

    /// Every variant, named or not (to recognise a run by its label).
    const ALL: [Variant; 8] = [
        Variant::LongPollBrowser,
        Variant::ShortPollBrowser,
        Variant::ShortPollBrowserUncompressed,
        Variant::LongPollHttp2,
        Variant::ShortPollHttp2,
        Variant::SseHttp2,
        Variant::LongPollBrowserHttp2,
        Variant::ShortPollBrowserHttp2,
    ];

    /// The line's name, also the runs' label.
    pub fn title(self) -> &'static str {
        match self {
            Variant::LongPollBrowser => "long-poll, browser headers, br",
            Variant::ShortPollBrowser => "short-poll, browser headers, br",
            Variant::ShortPollBrowserUncompressed => "short-poll, browser headers, uncompressed",
            Variant::LongPollHttp2 => "long-poll, HTTP/2, minimal headers",
            Variant::ShortPollHttp2 => "short-poll, HTTP/2, minimal headers",
            Variant::SseHttp2 => "sse, HTTP/2, minimal headers",
            Variant::LongPollBrowserHttp2 => "long-poll, HTTP/2, browser headers, br",
            Variant::ShortPollBrowserHttp2 => "short-poll, HTTP/2, browser headers, br",
            Variant::None => "none",
        }
    }

    fn transport(self) -> Transport {
        match self {
            Variant::LongPollBrowser | Variant::LongPollHttp2 | Variant::LongPollBrowserHttp2 => {
                Transport::LongPoll
            }
            Variant::SseHttp2 => Transport::Sse,
            _ => Transport::ShortPoll,
        }
    }

    /// What the variant changes in its transport's plain run: the header
    /// set, HTTP/2, and its title as the run's label.
    fn apply(self, opts: &mut LoadOpts) {
        match self {
            Variant::LongPollHttp2 | Variant::ShortPollHttp2 | Variant::SseHttp2 => {
                opts.http2 = true;
            }
            Variant::LongPollBrowserHttp2 | Variant::ShortPollBrowserHttp2 => {
                opts.header_profile = HeaderProfile::Browser;
                opts.http2 = true;
            }
            _ => opts.header_profile = HeaderProfile::Browser,
        }
        opts.label = Some(self.title().to_string());
    }

    /// `pushpoll load` options of the variant under `w` (see
    /// [`Workload::for_variants`]) against the server at `addr`, which
    /// takes publishes too.
    pub fn load_opts(self, w: &Workload, addr: SocketAddr) -> LoadOpts {
        let mut opts = w.load_opts(self.transport(), addr, addr);
        self.apply(&mut opts);
        opts
    }

    /// Whether the variant's server compresses answers.
    fn compresses(self) -> bool {
        self != Variant::ShortPollBrowserUncompressed
    }

    /// The variants `opts` asks for, in order.
    pub fn selected(opts: &CompareOpts) -> Vec<Variant> {
        if opts.variants.contains(&Variant::None) {
            Vec::new()
        } else if opts.variants.is_empty() {
            if opts.quick {
                Vec::new()
            } else {
                Variant::DEFAULT.to_vec()
            }
        } else {
            opts.variants.clone()
        }
    }

    /// Whether `r` is a variant's run (by its label).
    pub fn of(r: &RunResult) -> Option<Variant> {
        let label = r.label.as_deref()?;
        Variant::ALL.into_iter().find(|v| v.title() == label)
    }
}

/// The runs `compare` makes in all: the plan's and the variants'.
pub fn total_runs(opts: &CompareOpts) -> usize {
    if opts.remote.url.is_some() {
        return remote::planned(opts).len();
    }
    plan(opts).len() + Variant::selected(opts).len()
}

/// The per-message cost of every plain run and every variant, one line
/// each: how much of polling's cost is headers, and what compression does.
/// `None` when there are no variant runs.
pub fn variants_table(results: &[RunResult]) -> Option<String> {
    let variants: Vec<&RunResult> = results
        .iter()
        .filter(|r| Variant::of(r).is_some())
        .collect();
    let first = variants.first()?;
    use pushpoll_report::fmt;
    let mut t = pushpoll_report::table::Table::new([
        "",
        "requests / delivered",
        "bytes / delivered",
        "bytes up / request",
        "latency p99 (ms)",
        "lost",
    ]);
    let plain = results.iter().filter(|r| {
        r.label.is_none()
            && r.subscribers == first.subscribers
            && r.publish_rate == first.publish_rate
    });
    for r in plain.chain(variants.iter().copied()) {
        let name = match &r.label {
            Some(l) => l.clone(),
            None => format!("{}, minimal headers", r.transport),
        };
        let up = (r.requests > 0).then(|| r.bytes_up as f64 / r.requests as f64);
        t.row([
            name,
            fmt::opt(r.requests_per_delivered),
            fmt::opt(r.bytes_per_delivered),
            fmt::opt(up),
            fmt::ms(r.latency_us.p99),
            fmt::thousands(r.lost),
        ]);
    }
    Some(format!(
        "Variants ({} subscribers, {} msg/s for {}s, no idle window; plain runs above for reference):\n{}",
        fmt::thousands(first.subscribers),
        fmt::sig3(first.publish_rate),
        fmt::sig3(first.duration_s),
        t.render()
    ))
}

/// The workload after defaults are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Subscribers per transport.
    pub subscribers: usize,
    /// Messages per second.
    pub rate: f64,
    /// Seconds of publishing.
    pub duration: f64,
    /// Seconds between short polls.
    pub poll_interval: f64,
    /// Long-poll hold, seconds.
    pub long_poll_wait: f64,
    /// Payload bytes.
    pub payload_bytes: usize,
    /// Idle window, seconds.
    pub idle: f64,
    /// Added round-trip time, milliseconds (0: no proxy).
    pub rtt_ms: f64,
}

impl Workload {
    /// The embedded default: the notes' chat (short polling every second, long
    /// polls held up to 30 s, a few messages per second across the room, a few
    /// hundred subscribers), about a minute for all four transports on 2 cores.
    pub const DEFAULT: Workload = Workload {
        subscribers: 200,
        rate: 5.0,
        duration: 8.0,
        poll_interval: 1.0,
        long_poll_wait: 30.0,
        payload_bytes: 64,
        idle: 3.0,
        rtt_ms: 0.0,
    };

    /// The same comparison in about ten seconds.
    pub const QUICK: Workload = Workload {
        subscribers: 50,
        rate: 10.0,
        duration: 1.5,
        poll_interval: 0.5,
        long_poll_wait: 30.0,
        payload_bytes: 64,
        idle: 0.5,
        rtt_ms: 0.0,
    };

    /// Every workload `opts` asks for: the cartesian product of the listed
    /// subscriber counts, rates and poll intervals, over the default or quick
    /// preset, in the order given.
    pub fn matrix(opts: &CompareOpts) -> Vec<Self> {
        let base = if opts.quick {
            Self::QUICK
        } else {
            Self::DEFAULT
        };
        let or_base = |list: &[f64], v: f64| {
            if list.is_empty() {
                vec![v]
            } else {
                list.to_vec()
            }
        };
        let subscribers = if opts.subscribers.is_empty() {
            vec![base.subscribers]
        } else {
            opts.subscribers.clone()
        };
        let mut out = Vec::new();
        for &rtt_ms in &or_base(&opts.rtt, 0.0) {
            for &subs in &subscribers {
                for &rate in &or_base(&opts.rate, base.rate) {
                    for &interval in &or_base(&opts.poll_interval, base.poll_interval) {
                        out.push(Workload {
                            rtt_ms,
                            subscribers: subs,
                            rate,
                            duration: opts.duration.unwrap_or(base.duration),
                            poll_interval: interval,
                            long_poll_wait: opts.long_poll_wait.unwrap_or(base.long_poll_wait),
                            payload_bytes: opts.payload_bytes.unwrap_or(base.payload_bytes),
                            idle: opts.idle.unwrap_or(base.idle),
                        });
                    }
                }
            }
        }
        out
    }

    /// The variants' workload, derived from the first of the matrix: half
    /// its publishing time, no idle window, no added delay.
    pub fn for_variants(&self) -> Workload {
        Workload {
            duration: self.duration / 2.0,
            idle: 0.0,
            rtt_ms: 0.0,
            ..self.clone()
        }
    }

    /// `pushpoll load` options for one transport: subscribers connect to
    /// `addr` (the server, or the delaying proxy in front of it), publishers
    /// to `server` directly. Every option the workload does not set keeps
    /// `pushpoll load`'s own default; the values are checked where a user's
    /// command line is, when the run is planned.
    pub fn load_opts(
        &self,
        transport: Transport,
        addr: SocketAddr,
        server: SocketAddr,
    ) -> LoadOpts {
        let mut opts = LOAD_DEFAULTS.clone();
        opts.url = match transport {
            Transport::Ws => format!("ws://{addr}/ws"),
            Transport::Sse => format!("http://{addr}/events"),
            Transport::LongPoll | Transport::ShortPoll => format!("http://{addr}/messages"),
        };
        opts.transport = transport.into();
        opts.subscribers = self.subscribers;
        opts.rate = self.rate;
        opts.duration = self.duration;
        opts.poll_interval = self.poll_interval;
        opts.long_poll_wait = self.long_poll_wait;
        opts.payload_bytes = self.payload_bytes;
        opts.idle = self.idle;
        if self.rtt_ms > 0.0 {
            opts.publish_url = Some(format!("http://{server}/messages"));
            opts.label = Some(format!("rtt {}ms", self.rtt_ms));
        }
        opts
    }
}

/// `pushpoll load`'s defaults, taken from its command line once (not
/// restated here), so an option the load generator adds or retunes keeps
/// the same default in `compare` as for a user. The URL is a placeholder
/// every run replaces.
static LOAD_DEFAULTS: LazyLock<LoadOpts> = LazyLock::new(|| {
    <LoadOpts as clap::Parser>::try_parse_from(["load", "--url=http://unset/"])
        .expect("`pushpoll load --url U` parses")
});

/// One planned run: a transport under a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The transport.
    pub transport: Transport,
    /// Its workload.
    pub workload: Workload,
}

/// The runs `opts` asks for, in order. The poll interval only matters to
/// short polling, so the other transports run once per (subscribers, rate).
pub fn plan(opts: &CompareOpts) -> Vec<Step> {
    let matrix = Workload::matrix(opts);
    let mut steps: Vec<Step> = Vec::new();
    for workload in &matrix {
        for transport in opts.transports.iter().filter_map(TransportSpec::own) {
            let redundant = transport != Transport::ShortPoll
                && steps.iter().any(|s| {
                    s.transport == transport
                        && s.workload.subscribers == workload.subscribers
                        && s.workload.rate == workload.rate
                        && s.workload.rtt_ms == workload.rtt_ms
                });
            if !redundant {
                steps.push(Step {
                    transport,
                    workload: workload.clone(),
                });
            }
        }
    }
    steps
}

/// Runs the comparison against an in-process server. `stop` ends the run in
/// progress early (its partial result is kept) and skips the rest.
pub async fn run(
    opts: &CompareOpts,
    stop: tokio_util::sync::CancellationToken,
    view: &crate::progress::View,
) -> anyhow::Result<Vec<RunResult>> {
    if let Some(url) = &opts.remote.url {
        return remote::run(opts, url, stop, view).await;
    }
    remote::only_own(opts)?;
    anyhow::ensure!(
        opts.rtt.iter().all(|r| r.is_finite() && *r >= 0.0),
        "--rtt takes round-trip times in milliseconds, 0 or more (got {:?})",
        opts.rtt
    );
    let steps = plan(opts);
    let threads = opts
        .server_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let server = EmbeddedServer::start(pushpoll_server::Config::default(), threads)?;
    let hooks = pushpoll_loadgen::Hooks {
        server_cpu: Some(server.cpu_reader()),
        server_in_process: true,
        progress: view.live(),
        ..Default::default()
    };
    let mut results = Vec::new();
    let mut proxies: Vec<(f64, Proxy)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if stop.is_cancelled() {
            break;
        }
        let (transport, w) = (step.transport, &step.workload);
        let interval = if transport == Transport::ShortPoll {
            format!(", every {}s", w.poll_interval)
        } else {
            String::new()
        };
        view.start(&format!(
            "[{}/{}] {transport}: {} subscribers, {} msg/s for {}s{interval}",
            i + 1,
            steps.len(),
            w.subscribers,
            w.rate,
            w.duration
        ));
        let target = if w.rtt_ms > 0.0 {
            proxy_for(&mut proxies, w.rtt_ms, server.addr()).await?
        } else {
            server.addr()
        };
        let load = w.load_opts(transport, target, server.addr());
        let mut result =
            pushpoll_loadgen::run(&load, hooks.clone(), stop.clone().cancelled_owned())
                .await
                .with_context(|| format!("running the {transport} load"))?;
        // The delay is data of the run (the report counts latency in
        // transits of it); the label only names it.
        if !opts.rtt.is_empty() {
            result.one_way_delay_ms = Some(w.rtt_ms / 2.0);
        }
        view.finish(&format!(
            "[{}/{}] {transport}: delivered {}/{}, lost {}",
            i + 1,
            steps.len(),
            result.delivered,
            result.expected_deliveries,
            result.lost
        ));
        results.push(result);
    }
    let variants = Variant::selected(opts);
    // The uncompressed variant's own server, started on first use.
    let mut plain_server: Option<EmbeddedServer> = None;
    if let (false, Some(base)) = (variants.is_empty(), Workload::matrix(opts).first()) {
        let w = base.for_variants();
        for (j, &v) in variants.iter().enumerate() {
            if stop.is_cancelled() {
                break;
            }
            let n = steps.len() + j + 1;
            let total = steps.len() + variants.len();
            view.start(&format!(
                "[{n}/{total}] {}: {} subscribers, {} msg/s for {}s",
                v.title(),
                w.subscribers,
                w.rate,
                w.duration
            ));
            let (addr, cpu) = if v.compresses() {
                (server.addr(), server.cpu_reader())
            } else {
                if plain_server.is_none() {
                    let config = pushpoll_server::Config {
                        compression: pushpoll_server::compress::Compression::off(),
                        ..pushpoll_server::Config::default()
                    };
                    plain_server = Some(EmbeddedServer::start(config, threads)?);
                }
                let s = plain_server.as_ref().expect("started above");
                (s.addr(), s.cpu_reader())
            };
            let load = v.load_opts(&w, addr);
            let hooks = pushpoll_loadgen::Hooks {
                server_cpu: Some(cpu),
                ..hooks.clone()
            };
            let result = pushpoll_loadgen::run(&load, hooks, stop.clone().cancelled_owned())
                .await
                .with_context(|| format!("running the variant {}", v.title()))?;
            view.finish(&format!(
                "[{n}/{total}] {}: delivered {}/{}, lost {}",
                v.title(),
                result.delivered,
                result.expected_deliveries,
                result.lost
            ));
            results.push(result);
        }
    }
    view.close();
    for (_, proxy) in proxies {
        proxy.stop().await;
    }
    server.stop();
    if let Some(s) = plain_server {
        s.stop();
    }
    Ok(results)
}

#[cfg(test)]
mod tests;
