//! `pushpoll compare`: the same workload over every transport against one
//! in-process server, one after another, then one table per workload.
//!
//! The default run tells the notes' story in two workloads: a quiet chat
//! (one message every 10 s, where 1-s short polls are nearly all empty) and
//! a busy one (20 messages a second, where every poll carries a batch),
//! every client speaking HTTP/1.1 with a browser's headers. Minimal headers
//! and HTTP/2 are variants, run when named.
//!
//! Runs are sequential, not concurrent, so each transport has the machine to
//! itself and the server's CPU time during a run belongs to that transport.
//! With `--url`, the same runs go to a server running elsewhere
//! ([`remote`]).

mod remote;
mod rtt;

use rtt::proxy_for;

pub(crate) use remote::process_cpu;
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
/// default workloads' value (the quiet and the busy chat), or the `--quick`
/// preset's with `--quick`; an option given applies to every workload.
#[derive(Debug, Clone, Args)]
pub struct CompareOpts {
    /// Subscribers per transport; a list (`10,100,1000`) sweeps
    /// [default: 100; quick: 50].
    #[arg(long, value_delimiter = ',')]
    pub subscribers: Vec<usize>,
    /// Messages per second across the room; a list sweeps, each rate with
    /// the busy chat's other settings [default: the quiet chat, 0.1, then
    /// the busy chat, 20; quick: 10].
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,
    /// Seconds of publishing per transport [default: quiet 20 (two
    /// messages, 10 s apart), busy 5; quick: 1.5].
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
    /// Seconds of idle measurement before publishing [default: quiet 2,
    /// busy 0; quick: 0.5].
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
    /// Request headers of every run: a desktop browser's (`browser`, what
    /// the notes are about) or the generator's minimal ones [default: browser].
    #[arg(long, value_enum)]
    pub header_profile: Option<BaseHeaders>,
    /// Variants run after the transports under each workload, one more
    /// column each in its table: minimal headers, HTTP/2, or a server that
    /// does not compress [default: none].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub variants: Vec<Variant>,
    /// Against a server running elsewhere (`--url`).
    #[command(flatten)]
    pub remote: RemoteOpts,
}

/// The header sets `compare --header-profile` offers (a captured file is
/// `pushpoll load`'s business).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaseHeaders {
    /// Desktop Chromium's headers (docs/headers.md).
    Browser,
    /// The generator's minimal headers.
    Minimal,
}

impl BaseHeaders {
    fn of(opts: &CompareOpts) -> BaseHeaders {
        opts.header_profile.unwrap_or(BaseHeaders::Browser)
    }

    fn profile(self) -> HeaderProfile {
        match self {
            BaseHeaders::Browser => HeaderProfile::Browser,
            BaseHeaders::Minimal => HeaderProfile::Minimal,
        }
    }

    /// The label of a plain run: the report reads the header profile from it.
    pub fn label(self) -> &'static str {
        match self {
            BaseHeaders::Browser => "browser headers",
            BaseHeaders::Minimal => "minimal headers",
        }
    }
}

/// A variant of a transport that `compare` runs besides the plain four,
/// under the same workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    /// Long polling with the generator's minimal headers: what a browser's
    /// headers cost, by difference.
    LongPollMinimal,
    /// Short polling with minimal headers.
    ShortPollMinimal,
    /// Short polling with a browser's headers against a server that does
    /// not compress its answers.
    ShortPollUncompressed,
    /// Long polling over HTTP/2 (`--http2`): subscribers multiplexed as
    /// streams, 100 to a connection; HPACK indexes most of a browser's
    /// headers after the first poll.
    LongPollHttp2,
    /// Short polling over HTTP/2, browser headers.
    ShortPollHttp2,
    /// SSE over HTTP/2, browser headers.
    SseHttp2,
    /// No variants.
    None,
}

impl Variant {
    /// Every variant.
    #[cfg(test)]
    const ALL: [Variant; 6] = [
        Variant::LongPollMinimal,
        Variant::ShortPollMinimal,
        Variant::ShortPollUncompressed,
        Variant::LongPollHttp2,
        Variant::ShortPollHttp2,
        Variant::SseHttp2,
    ];

    /// The run's label: what differs from a plain run (the transport is
    /// the run's own field).
    pub fn title(self) -> &'static str {
        match self {
            Variant::LongPollMinimal | Variant::ShortPollMinimal => "minimal headers",
            Variant::ShortPollUncompressed => "browser headers, uncompressed",
            Variant::LongPollHttp2 | Variant::ShortPollHttp2 | Variant::SseHttp2 => {
                "HTTP/2, browser headers"
            }
            Variant::None => "none",
        }
    }

    fn transport(self) -> Transport {
        match self {
            Variant::LongPollMinimal | Variant::LongPollHttp2 => Transport::LongPoll,
            Variant::SseHttp2 => Transport::Sse,
            _ => Transport::ShortPoll,
        }
    }

    /// What the variant changes in its transport's plain run: the header
    /// set, HTTP/2, and its title as the run's label.
    fn apply(self, opts: &mut LoadOpts) {
        match self {
            Variant::LongPollMinimal | Variant::ShortPollMinimal => {
                opts.header_profile = HeaderProfile::Minimal;
            }
            Variant::LongPollHttp2 | Variant::ShortPollHttp2 | Variant::SseHttp2 => {
                opts.header_profile = HeaderProfile::Browser;
                opts.http2 = true;
            }
            _ => opts.header_profile = HeaderProfile::Browser,
        }
        opts.label = Some(self.title().to_string());
    }

    /// `pushpoll load` options of the variant under `w` against the server
    /// at `addr`, which takes publishes too.
    pub fn load_opts(self, w: &Workload, addr: SocketAddr) -> LoadOpts {
        let mut opts = w.load_opts(self.transport(), addr, addr);
        self.apply(&mut opts);
        opts
    }

    /// Whether the variant's server compresses answers.
    fn compresses(self) -> bool {
        self != Variant::ShortPollUncompressed
    }

    /// The variants `opts` asks for, in order.
    pub fn selected(opts: &CompareOpts) -> Vec<Variant> {
        if opts.variants.contains(&Variant::None) {
            Vec::new()
        } else {
            opts.variants.clone()
        }
    }
}

/// The runs `compare` makes in all: the plan's and the variants' (under
/// every workload without an added delay).
pub fn total_runs(opts: &CompareOpts) -> usize {
    if opts.remote.url.is_some() {
        return remote::planned(opts).len();
    }
    plan(opts).len() + variant_runs(opts).len()
}

/// The variants' runs, in order: each selected variant under each workload
/// without an added delay (the proxy is the round-trip section's), once per
/// (subscribers, rate) unless it short-polls, like the plain runs.
pub fn variant_runs(opts: &CompareOpts) -> Vec<(Variant, Workload)> {
    let mut out: Vec<(Variant, Workload)> = Vec::new();
    for w in Workload::matrix(opts)
        .into_iter()
        .filter(|w| w.rtt_ms == 0.0)
    {
        for v in Variant::selected(opts) {
            let redundant = v.transport() != Transport::ShortPoll
                && out
                    .iter()
                    .any(|(x, y)| *x == v && y.subscribers == w.subscribers && y.rate == w.rate);
            if !redundant {
                out.push((v, w.clone()));
            }
        }
    }
    out
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
    /// Request headers of the plain runs.
    pub headers: BaseHeaders,
}

impl Workload {
    /// The quiet chat of the notes: one message every 10 s to 100
    /// subscribers, short polls every second, long polls held up to 30 s.
    /// Two messages, so the 10 s between them are measured; about 13 s a
    /// transport on 2 cores, a 2-s idle window included.
    pub const QUIET: Workload = Workload {
        subscribers: 100,
        rate: 0.1,
        duration: 20.0,
        poll_interval: 1.0,
        long_poll_wait: 30.0,
        payload_bytes: 64,
        idle: 2.0,
        rtt_ms: 0.0,
        headers: BaseHeaders::Browser,
    };

    /// The busy chat: 20 messages a second to the same room, where every
    /// poll carries a batch; about 6 s a transport.
    pub const BUSY: Workload = Workload {
        subscribers: 100,
        rate: 20.0,
        duration: 5.0,
        poll_interval: 1.0,
        long_poll_wait: 30.0,
        payload_bytes: 64,
        idle: 0.0,
        rtt_ms: 0.0,
        headers: BaseHeaders::Browser,
    };

    /// The same comparison in about ten seconds, one workload.
    pub const QUICK: Workload = Workload {
        subscribers: 50,
        rate: 10.0,
        duration: 1.5,
        poll_interval: 0.5,
        long_poll_wait: 30.0,
        payload_bytes: 64,
        idle: 0.5,
        rtt_ms: 0.0,
        headers: BaseHeaders::Browser,
    };

    /// Every workload `opts` asks for: the presets (quiet and busy chat, or
    /// quick), or one busy chat per listed rate, crossed with the listed
    /// subscriber counts, poll intervals and round-trip times, every other
    /// option given replacing the preset's value, in the order given.
    pub fn matrix(opts: &CompareOpts) -> Vec<Self> {
        let presets: Vec<Workload> = if opts.quick {
            let rates = if opts.rate.is_empty() {
                vec![Self::QUICK.rate]
            } else {
                opts.rate.clone()
            };
            rates
                .into_iter()
                .map(|rate| Workload {
                    rate,
                    ..Self::QUICK
                })
                .collect()
        } else if opts.rate.is_empty() {
            vec![Self::QUIET, Self::BUSY]
        } else {
            opts.rate
                .iter()
                .map(|&rate| Workload { rate, ..Self::BUSY })
                .collect()
        };
        let or = |list: &[f64], v: f64| {
            if list.is_empty() {
                vec![v]
            } else {
                list.to_vec()
            }
        };
        let headers = BaseHeaders::of(opts);
        let mut out = Vec::new();
        for &rtt_ms in &or(&opts.rtt, 0.0) {
            for preset in &presets {
                let subscribers = if opts.subscribers.is_empty() {
                    vec![preset.subscribers]
                } else {
                    opts.subscribers.clone()
                };
                for &subs in &subscribers {
                    for &interval in &or(&opts.poll_interval, preset.poll_interval) {
                        out.push(Workload {
                            rtt_ms,
                            subscribers: subs,
                            rate: preset.rate,
                            duration: opts.duration.unwrap_or(preset.duration),
                            poll_interval: interval,
                            long_poll_wait: opts.long_poll_wait.unwrap_or(preset.long_poll_wait),
                            payload_bytes: opts.payload_bytes.unwrap_or(preset.payload_bytes),
                            idle: opts.idle.unwrap_or(preset.idle),
                            headers,
                        });
                    }
                }
            }
        }
        out
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
        opts.header_profile = self.headers.profile();
        let headers = self.headers.label();
        opts.label = Some(headers.to_string());
        if self.rtt_ms > 0.0 {
            opts.publish_url = Some(format!("http://{server}/messages"));
            opts.label = Some(format!("rtt {}ms, {headers}", self.rtt_ms));
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
    let total = total_runs(opts);
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
            total,
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
            total,
            result.delivered,
            result.expected_deliveries,
            result.lost
        ));
        results.push(result);
    }
    let variants = variant_runs(opts);
    let total = steps.len() + variants.len();
    // The uncompressed variant's own server, started on first use.
    let mut plain_server: Option<EmbeddedServer> = None;
    for (j, (v, w)) in variants.iter().enumerate() {
        if stop.is_cancelled() {
            break;
        }
        let n = steps.len() + j + 1;
        let name = format!("{}, {}", v.transport(), v.title());
        view.start(&format!(
            "[{n}/{total}] {name}: {} subscribers, {} msg/s for {}s",
            w.subscribers, w.rate, w.duration
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
        let load = v.load_opts(w, addr);
        let hooks = pushpoll_loadgen::Hooks {
            server_cpu: Some(cpu),
            ..hooks.clone()
        };
        let result = pushpoll_loadgen::run(&load, hooks, stop.clone().cancelled_owned())
            .await
            .with_context(|| format!("running the variant {name}"))?;
        view.finish(&format!(
            "[{n}/{total}] {name}: delivered {}/{}, lost {}",
            result.delivered, result.expected_deliveries, result.lost
        ));
        results.push(result);
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
